"""Recipient-list pages: create a list from a CSV, watch the upload, page through recipients and
refused rows, delete. The rules live in batches.lists.services; the upload runs in a worker.

- list_index (GET the lists, POST a new list with its CSV), list_detail, list_progress (htmx),
  list_upload (POST another CSV), list_delete
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.views import account_required
from batches.lists import services
from batches.lists.forms import ListForm, UploadForm
from batches.lists.uploads import save_upload, start_import
from batches.models import ReceiverList

RECEIVERS_PAGE_SIZE = 50
ERRORS_PAGE_SIZE = 50


def _get_list_for_account(request: HttpRequest, pk: int) -> ReceiverList:
    # Another account's list is as good as missing: 404, never its data.
    return get_object_or_404(ReceiverList, pk=pk, account=request.account)


@account_required
def list_index(request: HttpRequest) -> HttpResponse:
    """GET shows the lists; POST creates one from a CSV and starts loading it in a worker."""
    form = ListForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                receiver_list = services.create_list(
                    request.account, form.cleaned_data["name"], form.cleaned_data["description"]
                )
                path, size = save_upload(receiver_list, form.cleaned_data["file"])
                start_import(receiver_list, path, size)
        except services.ListError as exc:
            form.add_error(None, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("List %(name)s is created; its file is loading.") % {"name": receiver_list.name})
            return redirect("list-detail", pk=receiver_list.pk)
    context = {"lists": ReceiverList.objects.filter(account=request.account), "form": form}
    return render(request, "batches/lists.html", context, status=400 if form.errors else 200)


def _detail_context(request: HttpRequest, receiver_list: ReceiverList, upload_form=None) -> dict:
    receivers = Paginator(receiver_list.receivers.order_by("id"), RECEIVERS_PAGE_SIZE)
    refused = Paginator(receiver_list.errors.order_by("line", "id"), ERRORS_PAGE_SIZE)
    return {
        "list": receiver_list,
        "receivers": receivers.get_page(request.GET.get("page")),
        "refused": refused.get_page(request.GET.get("errors")),
        "upload_form": upload_form or UploadForm(),
    }


@account_required
def list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    receiver_list = _get_list_for_account(request, pk)
    return render(request, "batches/list_detail.html", _detail_context(request, receiver_list))


@account_required
def list_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The upload progress fragment; once the upload is over, htmx stops polling and reloads the page
    (which then lists the refused rows)."""
    receiver_list = _get_list_for_account(request, pk)
    response = render(request, "batches/list_detail.html#progress", {"list": receiver_list})
    if receiver_list.status == ReceiverList.UPLOADING:
        return response
    stop = HttpResponseStopPolling(response.content)
    stop["HX-Refresh"] = "true"
    return stop


@require_POST
@account_required
def list_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """More recipients for an existing list, from another CSV."""
    receiver_list = _get_list_for_account(request, pk)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.check_can_add(receiver_list)
            with transaction.atomic():
                path, size = save_upload(receiver_list, form.cleaned_data["file"])
                start_import(receiver_list, path, size)
        except services.ListError as exc:
            form.add_error(None, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("The file is loading."))
            return redirect("list-detail", pk=receiver_list.pk)
    return render(
        request, "batches/list_detail.html", _detail_context(request, receiver_list, form), status=400
    )


@account_required
def list_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes (refused while the list loads or a task uses it)."""
    receiver_list = _get_list_for_account(request, pk)
    if request.method == "POST":
        try:
            services.delete_list(receiver_list)
        except services.ListError as exc:
            messages.error(request, exc.message)
            return redirect("list-detail", pk=receiver_list.pk)
        messages.success(request, _("List %(name)s is deleted.") % {"name": receiver_list.name})
        return redirect("lists")
    return render(request, "batches/list_delete.html", {"list": receiver_list})
