"""Console pages: notifications, callback settings, and the callback delivery log."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.views import account_required
from notify import services
from notify.forms import CallbackEndpointForm
from notify.models import CallbackDelivery

LOG_ROWS = 200


def _get_delivery_for_account(request: HttpRequest, pk: int) -> CallbackDelivery:
    # Another account's delivery is as good as missing: 404, never its data.
    return get_object_or_404(CallbackDelivery, pk=pk, account=request.account)


# --- Notifications -------------------------------------------------------------------------------


@account_required
def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = request.account.notifications.all()[:200]
    return render(request, "notify/notifications.html", {"notifications": notifications})


@require_POST
@account_required
def notifications_read(request: HttpRequest) -> HttpResponse:
    services.mark_all_read(request.account)
    return redirect("notify:notifications")


# --- Callbacks -----------------------------------------------------------------------------------


@never_cache  # the page shows the signing secret
@account_required
def callback_settings(request: HttpRequest) -> HttpResponse:
    endpoint = services.endpoint_for(request.account)
    initial = {"url": endpoint.url, "enabled": endpoint.enabled} if endpoint else {"enabled": True}
    form = CallbackEndpointForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, _ = services.save_endpoint(request.account, form.cleaned_data["url"], form.cleaned_data["enabled"])
        except services.NotifyError as exc:
            form.add_error("url", exc.message)
        else:
            messages.success(request, gettext("Callback settings saved."))
            return redirect("notify:callbacks")
    return render(request, "notify/callbacks.html", {"form": form, "endpoint": endpoint})


@require_POST
@account_required
def callback_rotate_secret(request: HttpRequest) -> HttpResponse:
    endpoint = services.endpoint_for(request.account)
    if endpoint is not None:
        services.rotate_secret(endpoint)
        messages.success(request, gettext("A new signing secret is in force; update your receiver."))
    return redirect("notify:callbacks")


@account_required
def callback_log(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    deliveries = CallbackDelivery.objects.filter(account=request.account)
    if status in dict(CallbackDelivery.STATUSES):
        deliveries = deliveries.filter(status=status)
    else:
        status = ""
    context = {"deliveries": deliveries[:LOG_ROWS], "status": status, "statuses": CallbackDelivery.STATUSES}
    return render(request, "notify/callback_log.html", context)


@account_required
def callback_detail(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = _get_delivery_for_account(request, pk)
    payload = json.dumps(delivery.payload, indent=2, ensure_ascii=False)
    return render(request, "notify/callback_detail.html", {"delivery": delivery, "payload": payload})
