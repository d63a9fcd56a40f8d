"""Sender domain pages: the list with today's quota, one domain's DNS, counters, history and work orders."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import AccountFreeze
from accounts.views import account_required
from core.clock import platform_today
from core.csp import CHART_CSP
from domains import services, workorders
from domains.charts import level_chart_json
from domains.forms import DomainForm, WorkOrderForm
from domains.models import DomainDay, SenderDomain
from domains.progress import progress_of
from domains.reputation import levels, rules, wording
from domains.reputation.services import domains_today, metrics_of, pending_downgrade


def _get_domain_for_account(request: HttpRequest, pk: int) -> SenderDomain:
    # Another account's domain is as good as missing: 404, never its data.
    return get_object_or_404(SenderDomain, pk=pk, account=request.account)


@account_required
def domain_list(request: HttpRequest) -> HttpResponse:
    """GET lists the domains with today's quota; POST creates a domain (errors leave nothing written)."""
    form = DomainForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            domain = services.create_domain(request.account, form.cleaned_data["name"], form.cleaned_data["dkim_option"])
        except services.DomainError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, _("%(name)s is created. Publish its DNS records, then check them.") % {"name": domain.name})
            return redirect("domains:detail", pk=domain.pk)
    rows = [
        {
            "domain": domain,
            "sent": today.sent if today else 0,
            "cap": today.cap if today else domain.daily_cap,
            "remaining": today.remaining if today else domain.daily_cap,
            "pending_downgrade": downgrade,
        }
        for domain, today, downgrade in domains_today(request.account)
    ]
    status = 400 if form.errors else 200
    return render(request, "domains/list.html", {"rows": rows, "form": form}, status=status)


def _records(domain: SenderDomain) -> list[dict]:
    results = domain.dns_results or {}
    return [{"record": record, "result": results.get(record.kind)} for record in services.records_for(domain)]


def _render_detail(request: HttpRequest, domain: SenderDomain, work_order_form=None, status: int = 200):
    today = DomainDay.objects.filter(domain=domain, day=platform_today()).first()
    values = rules.metric_values(metrics_of(today)) if today else {}
    rates = [
        {"label": label, "of": of, "value": f"{float(values.get(metric, 0)):.2f}"}
        for metric, label, of in wording.RATES
    ]
    can_file = workorders.can_file(domain)
    context = {
        "domain": domain,
        "records": _records(domain),
        "today": today,
        "sent": today.sent if today else 0,
        "cap": today.cap if today else domain.daily_cap,
        "remaining": today.remaining if today else domain.daily_cap,
        "rates": rates,
        "pending_downgrade": pending_downgrade(domain, today),
        "level_changes": domain.level_changes.all()[:100],
        "progress": progress_of(domain, today),
        "level_chart": level_chart_json(domain),
        "freezes": AccountFreeze.objects.filter(account=request.account).select_related("lifted_by")[:100],
        "can_file": can_file,
        "top_level": levels.top_level(),
        "work_order_form": (work_order_form or WorkOrderForm()) if can_file else None,
        "work_orders": domain.work_orders.all(),
    }
    return render(request, "domains/detail.html", context, status=status)


# The level chart is plotly, which adds <style> elements of its own (as on the statistics page).
@csp_override(CHART_CSP)
@account_required
def domain_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _get_domain_for_account(request, pk))


@require_POST
@account_required
def domain_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Look the DNS records up now; an htmx request gets only the records fragment back.

    A claim removed by the check (another account verified the name first, or it expired) is gone:
    the browser goes to the domain list, which says why."""
    try:
        domain = services.check_dns(_get_domain_for_account(request, pk))
    except services.ClaimRemoved as exc:
        messages.error(request, exc.message)
        if request.htmx:
            return HttpResponseClientRedirect(reverse("domains:list"))
        return redirect("domains:list")
    if request.htmx:
        return render(request, "domains/detail.html#records", {"domain": domain, "records": _records(domain)})
    if domain.is_verified:
        messages.success(request, _("DNS checked: %(name)s is verified.") % {"name": domain.name})
    else:
        messages.warning(request, _("DNS checked: some records are not published yet. See each record below."))
    return redirect("domains:detail", pk=domain.pk)


@csp_override(CHART_CSP)  # a refused work order renders the page with its chart again
@require_POST
@account_required
def domain_work_order(request: HttpRequest, pk: int) -> HttpResponse:
    """File a work order for a higher cap; refused (nothing written) below the top level."""
    domain = _get_domain_for_account(request, pk)
    if not workorders.can_file(domain):
        messages.error(
            request,
            _("Work orders are for verified level-%(top_level)s domains; %(name)s is at level %(level)s. Its level rises by the upgrade rules.") % {"top_level": levels.top_level(), "name": domain.name, "level": domain.level},
        )
        return _render_detail(request, domain, status=403)
    form = WorkOrderForm(request.POST)
    if form.is_valid():
        try:
            workorders.file_work_order(
                domain, request.user, form.cleaned_data["requested_cap"], form.cleaned_data["reason"]
            )
        except workorders.WorkOrderError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Your work order is filed; staff will decide on it."))
            return redirect("domains:detail", pk=domain.pk)
    return _render_detail(request, domain, work_order_form=form, status=400)


@account_required
def domain_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    domain = _get_domain_for_account(request, pk)
    if request.method == "POST":
        name = domain.name
        try:
            services.delete_domain(domain)
        except services.DomainError as exc:
            messages.error(request, exc.message)
            return redirect("domains:detail", pk=domain.pk)
        messages.success(request, _("%(name)s is deleted.") % {"name": name})
        return redirect("domains:list")
    return render(request, "domains/delete.html", {"domain": domain})
