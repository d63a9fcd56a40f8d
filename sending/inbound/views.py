"""Machine endpoints for outcomes that arrive after sending (docs/inbound.md): no session.

- inbound_report: POST /inbound/report, a raw DSN/ARF message, bearer token SES_INBOUND_TOKEN
- inbound_events: POST /inbound/events, MTA events, HMAC-SHA256 signature with SES_WEBHOOK_SECRET
An empty setting switches its endpoint off (404).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core import unusable
from sending.inbound.reports import InboundError
from sending.inbound.services import WebhookError, apply_report, apply_webhook, signature_matches


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _body(request: HttpRequest) -> bytes | None:
    try:
        return request.body
    except RequestDataTooBig:
        return None


def _bearer_token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@unusable.exempt
@csrf_exempt
@require_POST
def inbound_report(request: HttpRequest) -> JsonResponse:
    """POST the raw report message as the body (any content type), `Authorization: Bearer <token>`."""
    token = settings.SES_INBOUND_TOKEN
    if not token:
        raise Http404("The inbound report endpoint is switched off (SES_INBOUND_TOKEN is empty).")
    if not _bearer_token_matches(request, token):
        return _error(401, "Missing or wrong bearer token.")
    body = _body(request)
    if body is None:
        return _error(413, "The body is too large for a report.")
    try:
        results = apply_report(body)
    except InboundError as exc:
        return _error(400, str(exc))
    return JsonResponse({"results": [r.as_dict() for r in results]})


@unusable.exempt
@csrf_exempt
@require_POST
def inbound_events(request: HttpRequest) -> JsonResponse:
    """POST a JSON list of MTA events signed with `X-SES-Signature: sha256=<hex>`."""
    secret = settings.SES_WEBHOOK_SECRET
    if not secret:
        raise Http404("The event webhook is switched off (SES_WEBHOOK_SECRET is empty).")
    body = _body(request)
    if body is None:
        return _error(413, "The body is too large.")
    if not signature_matches(secret, body, request.headers.get("X-SES-Signature", "")):
        return _error(403, "Missing or wrong X-SES-Signature (expected sha256=<hex HMAC-SHA256 of the body>).")
    try:
        results = apply_webhook(body)
    except WebhookError as exc:
        return _error(400, str(exc))
    return JsonResponse({"results": [r.as_dict() for r in results]})
