"""TC3-HMAC-SHA256: the signature the official SDK puts on every request, checked here.

The client signs (tencentcloud.common.abstract_client._get_tc3_signature):

    CanonicalRequest = Method \\n URI \\n QueryString \\n CanonicalHeaders \\n SignedHeaders \\n sha256hex(payload)
    StringToSign     = "TC3-HMAC-SHA256" \\n X-TC-Timestamp \\n Date/ses/tc3_request \\n sha256hex(CanonicalRequest)
    key              = HMAC(HMAC(HMAC("TC3" + SecretKey, Date), "ses"), "tc3_request")
    Signature        = hex(HMAC(key, StringToSign))

and sends `Authorization: TC3-HMAC-SHA256 Credential=SecretId/Date/ses/tc3_request,
SignedHeaders=content-type;host, Signature=…`.

Neither X-TC-Action nor a nonce is signed, so a verified signature is recorded (api/replay.py): a
request that changes something is accepted once, a read may be repeated within the window; a request
sent again as a write, or as another action that writes, is refused while its timestamp is valid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, ApiKey
from api import replay
from api.errors import (
    AUTH_INVALID_AUTHORIZATION,
    AUTH_SECRET_ID_NOT_FOUND,
    AUTH_SIGNATURE_EXPIRE,
    AUTH_SIGNATURE_FAILURE,
    INVALID_PARAMETER_VALUE,
    MISSING_PARAMETER,
    ApiError,
    ReplayError,
)
from core.prepared import convert_row, model_columns

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "ses"
TERMINATOR = "tc3_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# The cloud refuses a signature that leaves these out; so do we (they pin the body type and the server).
REQUIRED_SIGNED_HEADERS = {"content-type", "host"}
# Touching last_used_at on every call would make each request a write; once a minute tells the same story.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)

_AUTHORIZATION = re.compile(
    r"^(?P<algorithm>\S+)\s+"
    r"Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+)\s*,\s*"
    r"Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


@dataclass(frozen=True)
class Authorization:
    secret_id: str
    date: str
    service: str
    signed_headers: list[str]
    signature: str


def parse_authorization(header: str) -> Authorization:
    if not header:
        raise ApiError(AUTH_INVALID_AUTHORIZATION, _("The Authorization header is missing."))
    match = _AUTHORIZATION.match(header.strip())
    if match is None:
        raise ApiError(
            AUTH_INVALID_AUTHORIZATION,
            _("The Authorization header is malformed; expected “TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…”."),
        )
    if match["algorithm"] != ALGORITHM:
        raise ApiError(AUTH_INVALID_AUTHORIZATION, _("Only the %(ALGORITHM)s signature method is supported.") % {"ALGORITHM": ALGORITHM})
    parts = match["credential"].split("/")
    if len(parts) != 4 or not parts[0] or parts[3] != TERMINATOR:
        raise ApiError(
            AUTH_INVALID_AUTHORIZATION, _("The Credential must read SecretId/YYYY-MM-DD/ses/tc3_request.")
        )
    signed_headers = match["signed_headers"].lower().split(";")
    if not REQUIRED_SIGNED_HEADERS.issubset(signed_headers) or "" in signed_headers:
        raise ApiError(AUTH_INVALID_AUTHORIZATION, _("SignedHeaders must include content-type and host."))
    return Authorization(parts[0], parts[1], parts[2], signed_headers, match["signature"].lower())


def _timestamp(request: HttpRequest) -> tuple[str, int]:
    raw = request.headers.get("X-TC-Timestamp", "")
    if not raw:
        raise ApiError(MISSING_PARAMETER, _("The X-TC-Timestamp header is required."))
    # ASCII digits only ("²".isdigit() is true), and few enough that the number stays a clock reading.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise ApiError(INVALID_PARAMETER_VALUE, _("X-TC-Timestamp must be a Unix timestamp in seconds."))
    return raw, int(raw)


def _canonical_headers(request: HttpRequest, names: list[str], lowercase_values: bool) -> str:
    lines = []
    for name in names:
        value = request.headers.get(name, "").strip()
        lines.append(f"{name}:{value.lower() if lowercase_values else value}\n")
    return "".join(lines)


def expected_signatures(request: HttpRequest, body: bytes, auth: Authorization, timestamp: str, secret_key: str) -> set[str]:
    """The signatures a correct client could have produced for this request.

    Tencent's TC3 documentation lowercases header values in the canonical request; the Python SDK
    sends them as they are. Both are right for a lowercase host, and either is accepted otherwise.
    """
    if request.headers.get("X-TC-Content-SHA256") == UNSIGNED_PAYLOAD:
        payload_hash = hashlib.sha256(UNSIGNED_PAYLOAD.encode()).hexdigest()
    else:
        payload_hash = hashlib.sha256(body).hexdigest()
    scope = f"{auth.date}/{auth.service}/{TERMINATOR}"
    key = _signing_key(secret_key, auth.date, auth.service)
    signatures = set()
    for lowercase_values in (False, True):
        canonical_request = "\n".join([
            request.method,
            request.path,
            request.META.get("QUERY_STRING", ""),
            _canonical_headers(request, auth.signed_headers, lowercase_values),
            ";".join(auth.signed_headers),
            payload_hash,
        ])
        string_to_sign = "\n".join([
            ALGORITHM, timestamp, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
        ])
        signatures.add(hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest())
    return signatures


def _signing_key(secret_key: str, date: str, service: str) -> bytes:
    k_date = hmac.new(("TC3" + secret_key).encode("utf-8"), date.encode("utf-8"), hashlib.sha256).digest()
    k_service = hmac.new(k_date, service.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(k_service, TERMINATOR.encode("utf-8"), hashlib.sha256).digest()


def authenticate(request: HttpRequest, body: bytes) -> ApiKey:
    """The enabled API key that signed this request, or ApiError with the cloud's AuthFailure code.

    1. Parse Authorization and X-TC-Timestamp; a timestamp off by more than the window is expired.
    2. The credential scope must name the timestamp's UTC date and this service.
    3. Look the SecretId up (a disabled key is reported like a missing one, as the cloud does).
    4. Recompute the signature with the decrypted SecretKey; compare in constant time.
    5. Record the signature (api.replay): one already recorded is a replay, refused (ReplayError),
       unless both uses are reads of a signed payload. Only now, so that requests nobody signed
       cannot fill the store or use up a real client's signature.
    """
    auth = parse_authorization(request.headers.get("Authorization", ""))
    raw_timestamp, timestamp = _timestamp(request)
    if abs(time.time() - timestamp) > settings.SES_API_TIMESTAMP_WINDOW_SECONDS:
        raise ApiError(
            AUTH_SIGNATURE_EXPIRE,
            _("The signature has expired: X-TC-Timestamp is more than %(SES_API_TIMESTAMP_WINDOW_SECONDS)s seconds away from the server time. Check your clock.") % {"SES_API_TIMESTAMP_WINDOW_SECONDS": settings.SES_API_TIMESTAMP_WINDOW_SECONDS},
        )
    if auth.service != SERVICE:
        raise ApiError(AUTH_SIGNATURE_FAILURE, _("The credential scope names service “%(service)s”; expected “%(SERVICE)s”.") % {"service": auth.service, "SERVICE": SERVICE})
    utc_date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    if auth.date != utc_date:
        raise ApiError(
            AUTH_SIGNATURE_FAILURE,
            _("The credential scope date %(date)s is not the UTC date of X-TC-Timestamp (%(utc_date)s).") % {"date": auth.date, "utc_date": utc_date},
        )
    key = enabled_key(auth.secret_id)
    if key is None:
        raise ApiError(AUTH_SECRET_ID_NOT_FOUND, _("The SecretId does not exist or has been disabled."))
    expected = expected_signatures(request, body, auth, raw_timestamp, key.secret_key)
    # Compare against every candidate so the time taken does not depend on which one matched.
    matched = [hmac.compare_digest(candidate, auth.signature) for candidate in expected]
    if not any(matched):
        raise ApiError(
            AUTH_SIGNATURE_FAILURE,
            _("The signature does not match. Check the SecretKey and that the request is signed as the SDK does."),
        )
    action = request.headers.get("X-TC-Action", "")
    payload_signed = request.headers.get("X-TC-Content-SHA256") != UNSIGNED_PAYLOAD
    if not replay.accept(key.secret_id, auth.signature, timestamp, action, payload_signed):
        raise ReplayError(
            _(
                "This signature was already used: the request is a replay and was not run. Requests with "
                "the same body signed in the same second carry the same signature, whatever their action: "
                "send it again in the next second (the SDK signs each call afresh)."
            ),
        )
    _touch(key)
    return key


class _KeyQuery:
    """The enabled key of a SecretId with its account, as
    `ApiKey.objects.select_related("account").filter(secret_id=…, enabled=True).first()` answers it,
    but from SQL written once per database: every signed request runs it, and building the
    queryset each time cost more than the query itself."""

    _MODELS = (ApiKey, Account)

    def __init__(self):
        self._compiled: dict[str, tuple] = {}

    def _compile(self, alias: str) -> tuple:
        connection = connections[alias]
        q = connection.ops.quote_name
        columns, converters = model_columns(connection, zip(("k", "a"), self._MODELS, strict=True))
        key, account = ApiKey._meta, Account._meta
        sql = (
            f"SELECT {', '.join(columns)} FROM {q(key.db_table)} k "
            f"INNER JOIN {q(account.db_table)} a ON a.{q(account.pk.column)} = k.{q(key.get_field('account').column)} "
            f"WHERE k.{q(key.get_field('secret_id').column)} = %s AND k.{q(key.get_field('enabled').column)} = %s "
            f"ORDER BY k.{q(key.pk.column)} LIMIT 1"
        )
        return sql, converters

    def run(self, secret_id: str) -> ApiKey | None:
        alias = ApiKey.objects.db
        compiled = self._compiled.get(alias)
        if compiled is None:
            compiled = self._compiled.setdefault(alias, self._compile(alias))
        sql, converters = compiled
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, [secret_id, True])
            row = cursor.fetchone()
        if row is None:
            return None
        row = convert_row(row, converters, connection)
        split = len(ApiKey._meta.concrete_fields)
        key = ApiKey.from_db(alias, None, row[:split])
        account = Account.from_db(alias, None, row[split:])
        ApiKey.account.field.set_cached_value(key, account)
        return key


_key_query = _KeyQuery()


def enabled_key(secret_id: str) -> ApiKey | None:
    """The enabled ApiKey of `secret_id` with its account loaded (one query), or None."""
    return _key_query.run(secret_id)


def _touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
