"""Sending pages: sender addresses, templates (editor, review result, safe preview, test send),
the blacklist and the send log. Every rule lives in sending.services; these views parse and render."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from accounts.views import account_required
from sending import review_text, services
from sending.forms import BlacklistFilterForm, SenderAddressForm, SendForm, SendLogFilterForm, TemplateForm
from sending.models import Message, SenderAddress, Suppression, Template

LOG_PAGE_SIZE = 50
BLACKLIST_PAGE_SIZE = 100

# The preview shows customer HTML inside the console: it may style itself and show images, and
# nothing else — no script, no form, no plugin, no navigation; `sandbox` also gives it an opaque
# origin, so even a browser that ignored the iframe's own sandbox attribute would not let it reach
# the console's cookies or pages.
PREVIEW_CSP = "default-src 'none'; img-src data: https:; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"


def _get_address_for_account(request: HttpRequest, pk: int) -> SenderAddress:
    # Another account's row is as good as missing: 404, never its data.
    return get_object_or_404(SenderAddress, pk=pk, account=request.account)


def _get_template_for_account(request: HttpRequest, pk: int) -> Template:
    return get_object_or_404(Template, pk=pk, account=request.account)


def _get_message_for_account(request: HttpRequest, message_id: str) -> Message:
    # A path holding a NUL, which PostgreSQL would refuse in the query, never gets here (sesconsole.middleware).
    return get_object_or_404(Message, message_id=message_id, account=request.account)


# --- Sender addresses ----------------------------------------------------------------------------


@account_required
def address_list(request: HttpRequest) -> HttpResponse:
    """GET lists the addresses; POST creates one (a refused address leaves nothing written)."""
    form = SenderAddressForm(request.account, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            address = services.create_sender_address(
                request.account, form.email_address, form.cleaned_data["display_name"]
            )
        except services.SendError as exc:
            form.add_error(None, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("%(email)s is added: it can send now.") % {"email": address.email})
            return redirect("addresses")
    context = {
        "addresses": SenderAddress.objects.filter(account=request.account).select_related("domain"),
        "form": form,
        "has_verified_domain": form.fields["domain"].queryset.exists(),
    }
    return render(request, "sending/addresses.html", context, status=400 if form.errors else 200)


@account_required
def address_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    address = _get_address_for_account(request, pk)
    if request.method == "POST":
        try:
            services.delete_sender_address(request.account, address.email)
        except services.SendError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("%(email)s is deleted.") % {"email": address.email})
        return redirect("addresses")
    return render(request, "sending/address_delete.html", {"address": address})


# --- Templates -----------------------------------------------------------------------------------


def _review_lines(text: str) -> list[str]:
    """The stored reason's lines, in the reader's language."""
    return [line for line in review_text.translate_reason(text).splitlines() if line.strip()]


def _findings(text: str) -> list[dict]:
    # The stored reason is ReviewResult.reason: '[rule] (part) message: "quote"', one finding a line.
    return [review_text.translate_finding(line) for line in (text or "").splitlines() if line.strip()]


@account_required
def template_list(request: HttpRequest) -> HttpResponse:
    templates = Template.objects.filter(account=request.account).order_by("name", "pk")
    rows = [{"template": t, "reasons": _review_lines(t.review_reason)} for t in templates]
    return render(request, "sending/templates.html", {"rows": rows})


def _template_form_values(form: TemplateForm) -> dict:
    data = form.cleaned_data
    return {key: data[key] for key in ("name", "subject", "html", "text", "transactional")}


@account_required
def template_create(request: HttpRequest) -> HttpResponse:
    """The review runs at once; the template's page then shows its verdict."""
    form = TemplateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.create_template(request.account, **_template_form_values(form))
        except services.SendError as exc:
            form.add_error(None, f"{exc.message} ({exc.code})")
        else:
            _announce_review(request, template)
            return redirect("template-edit", pk=template.pk)
    return render(request, "sending/template_new.html", {"form": form}, status=400 if form.errors else 200)


def _announce_review(request: HttpRequest, template: Template) -> None:
    if template.status == Template.APPROVED:
        messages.success(request, _("%(name)s is saved and approved.") % {"name": template.name})
    elif template.status == Template.REJECTED:
        messages.error(request, _("%(name)s is saved but rejected by the review: see the reasons below.") % {"name": template.name})
    else:
        messages.warning(request, _("%(name)s is saved and waits for review.") % {"name": template.name})


def _render_template_page(request, template, form=None, send_form=None, sent=None, status=200):
    if form is None:
        form = TemplateForm(initial={
            "name": template.name, "subject": template.subject, "html": template.html,
            "text": template.text, "transactional": template.transactional,
        })
    context = {
        "template": template,
        "form": form,
        "rejections": _findings(template.review_reason),
        "warnings": _findings(template.review_warnings),
        "send_form": send_form or SendForm(request.account),
        "sent": sent,
    }
    return render(request, "sending/template_detail.html", context, status=status)


@account_required
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """GET shows the editor, the review result, the preview and the test send; POST saves (and reviews)."""
    template = _get_template_for_account(request, pk)
    if request.method != "POST":
        return _render_template_page(request, template)
    form = TemplateForm(request.POST)
    if form.is_valid():
        try:
            template = services.update_template(template, **_template_form_values(form))
        except services.SendError as exc:
            form.add_error(None, f"{exc.message} ({exc.code})")
        else:
            _announce_review(request, template)
            return redirect("template-edit", pk=template.pk)
    # The row on screen is the stored one: a refused edit wrote nothing.
    template.refresh_from_db()
    return _render_template_page(request, template, form=form, status=400)


@xframe_options_sameorigin
@account_required
def template_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The stored template as a mail client would show it, framed by its own page under PREVIEW_CSP."""
    template = _get_template_for_account(request, pk)
    if template.html.strip():
        body = template.html
    else:
        body = f"<!doctype html><meta charset=\"utf-8\"><pre>{escape(template.text)}</pre>"
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    # Set before the CSP middleware runs, so it keeps this header instead of the console's.
    response["Content-Security-Policy"] = PREVIEW_CSP
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


@account_required
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    template = _get_template_for_account(request, pk)
    if request.method == "POST":
        name = template.name
        try:
            services.delete_template(template)
        except services.SendError as exc:
            messages.error(request, exc.message)
            return redirect("template-edit", pk=template.pk)
        messages.success(request, _("Template %(name)s is deleted.") % {"name": name})
        return redirect("templates")
    return render(request, "sending/template_delete.html", {"template": template})


@require_POST
@account_required
def template_send(request: HttpRequest, pk: int) -> HttpResponse:
    """A test send through the same service as the API's SendEmail; an htmx request gets the form back alone."""
    template = _get_template_for_account(request, pk)
    form = SendForm(request.account, request.POST)
    sent = None
    if form.is_valid():
        try:
            sent = services.send_email(
                request.account,
                from_address=form.cleaned_data["from_address"],
                destinations=form.cleaned_data["recipients"],
                template_id=template.pk,
                template_data=form.cleaned_data["template_data"],
            )
        except services.SendError as exc:
            form.add_error(None, f"{exc.code}: {exc.message}")
    status = 400 if form.errors else 200
    if sent is not None:
        form = SendForm(request.account, initial={
            "from_address": request.POST.get("from_address"), "template_data": request.POST.get("template_data"),
        })
    if request.htmx:
        return render(
            request, "sending/template_detail.html#send",
            {"template": template, "send_form": form, "sent": sent}, status=status,
        )
    return _render_template_page(request, template, send_form=form, sent=sent, status=status)


# --- Blacklist -----------------------------------------------------------------------------------


def _suppressions(request: HttpRequest, form: BlacklistFilterForm):
    rows = Suppression.objects.filter(account=request.account).order_by("-created_at", "-pk")
    if form.is_valid():
        if form.cleaned_data["reason"]:
            rows = rows.filter(reason=form.cleaned_data["reason"])
        if form.cleaned_data["q"].strip():
            # A non-ASCII domain typed finds its IDNA A-label, the form addresses are stored in.
            rows = rows.filter(services.address_contains("email", form.cleaned_data["q"]))
    return rows


@account_required
def blacklist(request: HttpRequest) -> HttpResponse:
    form = BlacklistFilterForm(request.GET)
    page = Paginator(_suppressions(request, form), BLACKLIST_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "query": _query_without_page(request)}
    if request.htmx:
        return render(request, "sending/blacklist.html#entries", context)
    return render(request, "sending/blacklist.html", context)


@require_POST
@account_required
def blacklist_remove(request: HttpRequest) -> HttpResponse:
    """Remove the ticked addresses; the service only touches this account's rows."""
    emails = [e.strip() for e in request.POST.getlist("email") if e.strip()]
    if not emails:
        messages.warning(request, _("Tick the addresses to remove first."))
    else:
        removed = services.remove_from_blacklist(request.account, emails)
        messages.success(request, ngettext(
            "Removed %(removed)s address: mail to it is sent again.",
            "Removed %(removed)s addresses: mail to them is sent again.",
            removed,
        ) % {"removed": removed})
    return redirect("blacklist")


# --- Send log ------------------------------------------------------------------------------------


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@account_required
def send_log(request: HttpRequest) -> HttpResponse:
    form = SendLogFilterForm(request.GET)
    rows = Message.objects.filter(account=request.account).order_by("-created_at", "-pk")
    if form.is_valid():
        data = form.cleaned_data
        if data["day"]:
            rows = rows.filter(send_day=data["day"])
        if data["message_id"].strip():
            rows = rows.filter(message_id=data["message_id"].strip().lower())
        if data["recipient"].strip():
            rows = rows.filter(services.address_contains("recipient", data["recipient"]))
    else:
        rows = rows.none()
    page = Paginator(rows, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "query": _query_without_page(request)}
    if request.htmx:
        return render(request, "sending/log.html#results", context)
    return render(request, "sending/log.html", context, status=400 if form.errors else 200)


@account_required
def message_detail(request: HttpRequest, message_id: str) -> HttpResponse:
    message = _get_message_for_account(request, message_id)
    return render(request, "sending/message.html", {"message": message, "events": message.events.all()})
