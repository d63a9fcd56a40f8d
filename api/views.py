"""POST / is the signed API (SPEC §6); GET / is the console's front door."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

import api.actions  # noqa: F401  (registers every action)
from accounts import ratelimit
from api import envelope
from api.auth import authenticate
from api.errors import (
    AUTH_SECRET_ID_NOT_FOUND,
    AUTH_SIGNATURE_FAILURE,
    INTERNAL_ERROR,
    INVALID_ACTION,
    INVALID_PARAMETER,
    INVALID_PARAMETER_VALUE,
    MISSING_PARAMETER,
    NO_SUCH_VERSION,
    REQUEST_LIMIT_EXCEEDED,
    REQUEST_SIZE_LIMIT_EXCEEDED,
    SERVICE_NOT_AVAILABLE,
    ApiError,
    ReplayError,
)
from api.language import in_api_language
from api.params import Params
from api.registry import ACTIONS
from core import unusable

logger = logging.getLogger(__name__)

API_VERSION = "2020-10-02"


@unusable.exempt  # a bad character is refused in the envelope (_refuse_unusable), not with a page
@csrf_exempt  # machines sign their requests (TC3); there is no session or cookie to protect
@in_api_language  # error messages in X-TC-Language (en-US by default); codes never change
def entry(request: HttpRequest) -> HttpResponse:
    if request.method in ("GET", "HEAD"):
        return redirect(settings.LOGIN_REDIRECT_URL)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    request_id = envelope.new_request_id()
    try:
        return envelope.success(_handle(request), request_id)
    except ApiError as exc:
        return envelope.error(exc.code, exc.message, request_id)
    except (OperationalError, InterfaceError) as exc:
        # The database is unreachable or dropped the connection: the request's transaction rolled
        # back, nothing was written, and trying again later is the right thing to do.
        logger.warning("API request %s: the database is not available (%s)", request_id, exc)
        return envelope.error(
            SERVICE_NOT_AVAILABLE, _("The service cannot store requests right now; nothing was done. Try again shortly."),
            request_id,
        )
    except Exception:
        logger.exception("API request %s (%s) failed", request_id, request.headers.get("X-TC-Action", ""))
        return envelope.error(
            INTERNAL_ERROR, _("An internal error occurred. Quote RequestId %(request_id)s when reporting it.") % {"request_id": request_id}, request_id
        )


def _handle(request: HttpRequest) -> dict:
    """1. Refuse an oversized body before reading it. 2. Authenticate. 3. Check version and action.
    4. Parse the JSON object. 5. Run the action, turning its declared service errors into codes."""
    body = _read_body(request)
    _refuse_unusable_headers(request)
    key = _authenticate_within_limits(request, body)
    version = request.headers.get("X-TC-Version", "")
    if version != API_VERSION:
        raise ApiError(NO_SUCH_VERSION, _("X-TC-Version must be %(API_VERSION)s; got “%(value)s”.") % {"API_VERSION": API_VERSION, "value": version[:40]})
    name = request.headers.get("X-TC-Action", "")
    if not name:
        raise ApiError(MISSING_PARAMETER, _("The X-TC-Action header is required."))
    action = ACTIONS.get(name)
    if action is None:
        raise ApiError(INVALID_ACTION, _("The action “%(value)s” does not exist.") % {"value": name[:80]})
    params = Params(_parse_json_object(body))
    try:
        return action.func(key.account, params)
    except action.errors as exc:
        raise ApiError(exc.code, exc.message) from exc


# Refused signatures that count toward the per-address limit: the ones guessing a key produces. Not a
# replay (ReplayError): its sender holds a correctly signed request, and counting it would let
# accidental SDK collisions lock every tenant behind that address out.
GUESSING_CODES = {AUTH_SECRET_ID_NOT_FOUND, AUTH_SIGNATURE_FAILURE}


def _authenticate_within_limits(request: HttpRequest, body: bytes):
    """authenticate(), refused with RequestLimitExceeded past the limits of accounts.ratelimit:
    too many refused signatures from one address, or too many requests of one SecretId (only a
    request that proved the key counts toward the key's limit, so nobody can spend someone else's).
    A refused signature is counted before it is answered, and past the limit every answer from the
    address is RequestLimitExceeded, even for a right signature: concurrent guesses get at most the
    limit's count of answers that tell right from wrong (checking a signature itself is cheap)."""
    ip = ratelimit.client_ip(request)

    def too_many_bad() -> ApiError:
        return ApiError(
            REQUEST_LIMIT_EXCEEDED,
            _("Too many requests with a wrong signature from %(ip)s; try again in %(seconds)s seconds.")
            % {"ip": ip, "seconds": ratelimit.retry_after(ratelimit.API_BAD_SIGNATURE)},
        )

    try:
        key = authenticate(request, body)
    except ApiError as exc:
        if exc.code in GUESSING_CODES and not isinstance(exc, ReplayError) and not ratelimit.take(ratelimit.API_BAD_SIGNATURE, ip):
            raise too_many_bad() from exc
        raise
    # Both counters in one round trip: the address's refused signatures, and this request of the key
    # (counted only when the address is not over its limit).
    bad_address, allowed = ratelimit.take_unless_exceeded(
        ratelimit.API_SECRET_ID, key.secret_id, ratelimit.API_BAD_SIGNATURE, ip
    )
    if bad_address:
        raise too_many_bad()
    if not allowed:
        lim = ratelimit.limit(ratelimit.API_SECRET_ID)
        raise ApiError(
            REQUEST_LIMIT_EXCEEDED,
            _(
                "SecretId %(secret_id)s made more than %(count)s requests in %(window)s seconds; "
                "try again in %(seconds)s seconds."
            ) % {
                "secret_id": key.secret_id, "count": lim.count, "window": lim.seconds,
                "seconds": ratelimit.retry_after(ratelimit.API_SECRET_ID),
            },
        )
    return key


def _read_body(request: HttpRequest) -> bytes:
    # Read the stream ourselves: request.body would apply DATA_UPLOAD_MAX_MEMORY_SIZE (meant for forms),
    # and the API's own limit is SES_API_MAX_BODY_BYTES.
    limit = settings.SES_API_MAX_BODY_BYTES
    too_big = ApiError(REQUEST_SIZE_LIMIT_EXCEEDED, _("The request body is larger than %(limit)s bytes.") % {"limit": limit})
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise too_big
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_big
    return body


def _not_json_constant(name: str):
    # Python's json reads NaN and Infinity, which JSON does not have (nor PostgreSQL's jsonb).
    raise ApiError(INVALID_PARAMETER, _("The request body is not valid JSON (%(name)s is not a JSON value).") % {"name": name})


def _parse_json_object(body: bytes) -> dict:
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_not_json_constant)
    except UnicodeDecodeError:
        raise ApiError(INVALID_PARAMETER, _("The request body is not UTF-8.")) from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            INVALID_PARAMETER, _("The request body is not valid JSON (%(msg)s at line %(lineno)s column %(colno)s).") % {"msg": exc.msg, "lineno": exc.lineno, "colno": exc.colno}
        ) from None
    except RecursionError:
        raise ApiError(INVALID_PARAMETER, _("The request body is nested too deeply.")) from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise ApiError(INVALID_PARAMETER, _("The request body has a number with too many digits.")) from None
    if not isinstance(data, dict):
        raise ApiError(INVALID_PARAMETER, _("The request body must be a JSON object of parameters."))
    _refuse_unusable(data)
    return data


VALUE_HEADERS = ("Authorization", "X-TC-Action", "X-TC-Version", "X-TC-Timestamp", "X-TC-Region", "X-TC-Language")


def _refuse_unusable_headers(request: HttpRequest) -> None:
    """The headers the API reads as values (the SecretId becomes a query parameter, the action and
    version are echoed) are free of unusable characters too."""
    for name in VALUE_HEADERS:
        value = request.headers.get(name, "")
        # WSGI hands header bytes over as Latin-1: read them as the UTF-8 a client sends, so that
        # the bytes of "€" are not taken for C1 controls.
        text = value.encode("latin-1", "replace").decode("utf-8", "replace")
        index = unusable.first(text)
        if index >= 0:
            raise ApiError(INVALID_PARAMETER_VALUE, _(
                "The header %(name)s contains %(char)s (character %(position)s): control characters, lone "
                "surrogates and noncharacters cannot be used."
            ) % {"name": name, "char": unusable.code_point(text[index]), "position": index + 1})


def _refuse_unusable(data: dict) -> None:
    """Every string of the body, at any depth, object keys included, is free of unusable characters
    (core.unusable): no action, service or database ever sees one. A JSON string that an
    action parses again (TemplateData) is checked where it is parsed."""
    found = unusable.find(data)
    if found is None:
        return
    what = {"name": found.name(), "char": unusable.code_point(found.char), "position": found.index + 1}
    if found.in_key:
        message = _("The parameter name %(name)s contains %(char)s (character %(position)s): control characters "
                    "other than tab and line breaks, lone surrogates and noncharacters cannot be used.") % what
    else:
        message = _("The parameter %(name)s contains %(char)s (character %(position)s): control characters "
                    "other than tab and line breaks, lone surrogates and noncharacters cannot be used.") % what
    raise ApiError(INVALID_PARAMETER_VALUE, message)
