"""Public endpoints behind the links in our mail: open pixel, click redirect, unsubscribe (SPEC §4.2).

No session and no tenant: the signed token is the only authority. A token that does not verify
records nothing and reveals nothing (404; the pixel answers with the GIF either way, so a broken
image never shows in a reader's mail).

An expired click link (sending.tracking.is_expired) does not redirect: its page says so and shows the
destination as text and as a link the reader may choose to follow. Neither an expired click nor an
expired pixel counts: a click months later is not engagement with the send, and counting it would
turn an old token into a counter anybody can pump.
"""

from __future__ import annotations

import base64

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from core import unusable
from sending import tracking
from sending.models import Message
from sending.recording import record_event

# The smallest transparent 1×1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
SAFE_REDIRECT_SCHEMES = ("http://", "https://")


def _expired(message: Message, token: str) -> bool:
    return tracking.is_expired(message, token, timezone.now())


def _message_for_token(token: str, kind: str) -> tuple[Message, str]:
    """The message a token of `kind` speaks about, and its extra value; 404 for anything forged."""
    try:
        _, message_id, extra = tracking.read_token(token, kind)
    except tracking.BadToken:
        raise Http404("No such link.") from None
    message = Message.objects.filter(message_id=message_id).select_related("domain").first()
    if message is None:
        raise Http404("No such link.")
    return message, extra


def _no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    response["Expires"] = "0"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@unusable.exempt
@require_GET
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        message, _ = _message_for_token(token, tracking.OPEN)
    except Http404:
        pass
    else:
        if not _expired(message, token):
            record_event(message, "opened", {})
    # Proxies and mail clients must fetch it each time, or repeated opens would never reach us.
    return _no_store(HttpResponse(PIXEL, content_type="image/gif"))


@unusable.exempt
@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Redirect to the URL inside the signed token, never to one taken from the request."""
    message, url = _message_for_token(token, tracking.CLICK)
    if not url.lower().startswith(SAFE_REDIRECT_SCHEMES):
        raise Http404("No such link.")
    if _expired(message, token):
        response = render(request, "tracking/link_expired.html", {"message": message, "url": url}, status=410)
        response["Referrer-Policy"] = "no-referrer"
        return _no_store(response)
    # A click proves the mail was opened, even when the reader's client blocked the pixel.
    record_event(message, "opened", {"via": "click"})
    record_event(message, "clicked", {"url": url})
    return _no_store(HttpResponseRedirect(url))


@unusable.exempt
@csrf_exempt  # RFC 8058: mail clients POST one-click unsubscribes without any page or cookie
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation and changes nothing (link scanners prefetch every URL); POST unsubscribes."""
    message, _ = _message_for_token(token, tracking.UNSUBSCRIBE)
    context = {"message": message, "token": token}
    if request.method == "GET":
        return _no_store(render(request, "tracking/unsubscribe_confirm.html", context))
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return _no_store(render(request, "tracking/unsubscribe_confirm.html", {**context, "bad_request": True}, status=400))
    record_event(message, "unsubscribed", {"via": "one-click"})
    return _no_store(render(request, "tracking/unsubscribed.html", context))
