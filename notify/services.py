"""Event callbacks and member notifications (SPEC §6.1).

Callbacks: every message event of an account with an enabled endpoint becomes a CallbackDelivery
row first, then a worker POSTs it, signed with the endpoint's secret; a failure is retried with
exponential backoff for a day. The row is the source of truth: a lost task or a dead broker only
delays a callback, because the periodic job `retry_callbacks` picks up every due row.

Notifications: a Notification row per (account, cause, day) — the unique constraint is what makes
"at most once per cause per day" true under concurrency — then an email to the account's members.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mass_mail
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.models import Account
from core import queues
from core.clock import platform_today
from core.enqueue import enqueue_on_commit, publish
from domains import signals as domain_signals
from domains.models import UNVERIFIED_CLAIM_LIFETIME, DomainDay
from domains.reputation import levels
from notify import destinations, texts
from notify.models import CallbackDelivery, CallbackEndpoint, Notification
from sending.recording import group_memo

log = logging.getLogger(__name__)

FIRST_RETRY = dt.timedelta(minutes=1)
MAX_RETRY_DELAY = dt.timedelta(hours=2)
RETRY_FOR = dt.timedelta(days=1)
RETRY_BATCH = 100
RETRY_SECONDS = 50

# record_event kinds → callback event names (Tencent Cloud SES names). Timeline-only kinds such as
# queued, sending and retry are not callback events.
CALLBACK_EVENTS = {
    "delivered": "delivered",
    "deferred": "deferred",
    "dropped": "dropped",
    "invalid": "bounce",
    "spam": "bounce",
    "bounced": "bounce",
    "complaint": "spamreport",
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
}
SIGNATURE_HEADER = "X-SES-Signature"
TIMESTAMP_HEADER = "X-SES-Timestamp"


class NotifyError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Callback endpoint settings ------------------------------------------------------------------


def endpoint_for(account: Account) -> CallbackEndpoint | None:
    return CallbackEndpoint.objects.filter(account=account).first()


def save_endpoint(account: Account, url: str, enabled: bool = True) -> tuple[CallbackEndpoint, str | None]:
    """Create or change the account's callback URL. Returns (endpoint, new secret if one was made)."""
    url = check_callback_url(url)
    endpoint = endpoint_for(account)
    secret = None
    if endpoint is None:
        endpoint = CallbackEndpoint(account=account)
        secret = endpoint.new_secret()
    endpoint.url = url
    endpoint.enabled = enabled
    endpoint.updated_at = timezone.now()
    endpoint.save()
    return endpoint, secret


def check_callback_url(url: str) -> str:
    """The URL, stripped, if callbacks may go there; NotifyError saying why not otherwise.

    The console, admin and any API path save through this: a host that does not resolve is
    refused now rather than failing every callback for a day.
    """
    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise NotifyError(gettext("Enter a full http:// or https:// URL.")) from exc
    if len(url) > 1000:
        raise NotifyError(gettext("The URL is longer than 1000 characters."))
    try:
        destinations.destination(url)
    except destinations.Malformed as exc:
        raise NotifyError(gettext("Enter a full http:// or https:// URL.")) from exc
    except destinations.Unresolvable as exc:
        raise NotifyError(
            gettext("The callback host cannot be found: %(reason)s. Check the host name, or publish its DNS record first.")
            % {"reason": exc}
        ) from exc
    except destinations.Refused as exc:
        raise NotifyError(gettext("Callbacks cannot go to %(refused)s; use a public address.") % {"refused": exc}) from exc
    return url


def rotate_secret(endpoint: CallbackEndpoint) -> str:
    secret = endpoint.new_secret()
    endpoint.updated_at = timezone.now()
    endpoint.save(update_fields=["secret_encrypted", "updated_at"])
    return secret


# --- Callbacks -----------------------------------------------------------------------------------


def callback_payload(message, kind: str, detail: dict, at: dt.datetime) -> dict | None:
    """The JSON body for one message event, or None when the kind is not a callback event."""
    event = CALLBACK_EVENTS.get(kind)
    if event is None:
        return None
    payload = {
        "event": event,
        "messageId": message.message_id,
        "requestId": message.request_id,
        "email": message.recipient,
        "from": message.from_email,
        "domain": message.domain.name,
        "subject": message.subject,
        "templateId": message.template_id,
        "time": timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S"),
        "timestamp": int(at.timestamp()),
        "reason": str(detail.get("reply") or detail.get("reason") or ""),
    }
    if event == "bounce":
        payload["bounceType"] = bounce_type(kind, detail)
        payload["bounceKind"] = kind  # invalid address, spam bounce, or another bounce
    if event == "click":
        payload["link"] = str(detail.get("url") or "")
    return payload


def bounce_type(kind: str, detail: dict) -> str:
    """hard: the address or content was refused for good; soft: temporary failures that ran out."""
    if detail.get("bounce_type") in ("hard", "soft"):
        return detail["bounce_type"]
    if kind in ("invalid", "spam"):
        return "hard"
    code = detail.get("code")
    if isinstance(code, int):
        return "soft" if 400 <= code < 500 else "hard"
    reply = str(detail.get("reply") or "").lstrip()
    return "soft" if reply[:1] == "4" else "hard"


def queue_callback(message, kind: str, detail: dict | None = None) -> CallbackDelivery | None:
    """Write the delivery row for one event if the account has an enabled endpoint; a worker sends it."""
    endpoint = _enabled_endpoint(message.account_id)
    if endpoint is None:
        return None
    now = timezone.now()
    payload = callback_payload(message, kind, detail or {}, now)
    if payload is None:
        return None
    delivery = CallbackDelivery.objects.create(
        account_id=message.account_id, event=payload["event"], message_id=message.message_id,
        url=endpoint.url, payload=payload, next_attempt_at=now,
    )
    # A broker that is down leaves the row due: retry_callbacks sends it on its next run.
    enqueue_on_commit("notify.deliver_callback", delivery.pk, queue=partial(callback_queue_for, delivery.account_id))
    return delivery


def _enabled_endpoint(account_id: int) -> CallbackEndpoint | None:
    """The account's enabled endpoint; read once per group of outcomes (sending.recording.event_group),
    so a delivery group of an account without an endpoint costs one SELECT, not one a message. An
    endpoint saved meanwhile is used from the next group on."""
    memo = group_memo()
    key = ("notify.callback_endpoint", account_id)
    if memo is not None and key in memo:
        return memo[key]
    endpoint = CallbackEndpoint.objects.filter(account_id=account_id, enabled=True).first()
    if memo is not None:
        memo[key] = endpoint
    return endpoint


def callback_queue_for(account_id: int) -> str:
    """The callbacks queue, or the callbacks backlog queue for an account with more than
    SES_CALLBACK_FAIR_SHARE callbacks pending: its receiver is slow or down, and each of its
    attempts may hold a worker thread for the whole timeout. The background workers take the two
    queues in turns, so such an account never stands in front of another account's callbacks."""
    share = settings.SES_CALLBACK_FAIR_SHARE
    pending = CallbackDelivery.objects.filter(account_id=account_id, status=CallbackDelivery.PENDING).order_by()
    return queues.CALLBACKS_BACKLOG if list(pending.values_list("pk", flat=True)[share : share + 1]) else queues.CALLBACKS


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def attempt_delivery(delivery_id: int) -> CallbackDelivery | None:
    """POST one due delivery once. None when it is not due or another worker holds it.

    1. Claim: one conditional UPDATE moves next_attempt_at past the attempt (a lease), so two
       workers never POST the same attempt.
    2. POST the JSON body, signed with the endpoint's current secret.
    3. 2xx: delivered. Anything else: the next attempt after an exponential delay, or failed once
       the next attempt would come more than a day after the event.
    """
    now = timezone.now()
    claimed = CallbackDelivery.objects.filter(
        pk=delivery_id, status=CallbackDelivery.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + attempt_lease(), last_attempt_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    delivery = CallbackDelivery.objects.get(pk=delivery_id)
    endpoint = CallbackEndpoint.objects.filter(account_id=delivery.account_id).first()
    if endpoint is None or not endpoint.enabled:
        delivery.status = CallbackDelivery.FAILED
        delivery.next_attempt_at = None
        delivery.last_error = "The callback endpoint was disabled or removed."
        delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
        return delivery
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    code, error = post_signed(endpoint.url, body, endpoint.secret)
    delivery.url = endpoint.url
    delivery.last_status_code = code
    delivery.last_error = error[:500]
    if code is not None and 200 <= code < 300:
        delivery.status = CallbackDelivery.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
    else:
        retry_at = timezone.now() + retry_delay(delivery.attempts)
        if retry_at > delivery.created_at + RETRY_FOR:
            delivery.status = CallbackDelivery.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = retry_at
    delivery.save(
        update_fields=["url", "status", "delivered_at", "next_attempt_at", "last_status_code", "last_error"]
    )
    return delivery


def retry_delay(attempts: int) -> dt.timedelta:
    """1, 2, 4, 8 … minutes after the n-th failed attempt, at most two hours apart."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


def attempt_lease() -> dt.timedelta:
    """How long a claimed attempt is held: an attempt not finished by then lost its worker.

    Far longer than an attempt can last (its HTTP part ends within SES_CALLBACK_TIMEOUT_SECONDS,
    the name lookup within SES_DNS_TIMEOUT), so a live attempt is never posted twice."""
    return dt.timedelta(seconds=6 * (settings.SES_CALLBACK_TIMEOUT_SECONDS + settings.SES_DNS_TIMEOUT))


def post_signed(url: str, body: bytes, secret: str) -> tuple[int | None, str]:
    """POST `body`; (status code, error text). The body carries its own timestamp, so the signature covers it.

    The URL is resolved and checked again for each attempt (its DNS may have changed since it was
    saved), and the POST goes to an address that was checked (notify.destinations). A redirect is a
    failure: following it would send the body where nobody checked.
    """
    try:
        target = destinations.destination(url)
    except destinations.Malformed as exc:
        return None, f"malformed: {exc}"
    except destinations.Refused as exc:
        return None, f"refused: {exc}"
    except destinations.Unresolvable as exc:
        return None, f"unresolvable: {exc}"
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "sesconsole-callbacks/1",
        SIGNATURE_HEADER: sign(secret, body),
        TIMESTAMP_HEADER: str(int(time.time())),
    }
    try:
        status, reason = destinations.post(target, body, headers)
    except Exception as exc:  # connection refused, timeout, TLS, protocol: all retried alike
        return None, f"{exc.__class__.__name__}: {exc}"
    return status, "" if 200 <= status < 300 else f"HTTP {status} {reason}"


def retry_due_callbacks() -> str:
    """Attempt every due delivery within a time budget; the next run continues.

    The accounts take turns: each account's oldest due delivery first, then each one's second, and
    so on (oldest first within a round), so an account whose receiver hangs, with many deliveries
    due, does not hold back another account's retry for more than a round of attempts.
    """
    started = time.monotonic()
    turn = Window(RowNumber(), partition_by=[F("account_id")], order_by=[F("next_attempt_at").asc(), F("pk").asc()])
    due = CallbackDelivery.objects.filter(
        status=CallbackDelivery.PENDING, next_attempt_at__lte=timezone.now()
    ).annotate(turn=turn).order_by("turn", "next_attempt_at", "pk").values_list("pk", flat=True)[:RETRY_BATCH]
    delivered = failed = attempted = 0
    for pk in list(due):
        if time.monotonic() - started > RETRY_SECONDS:
            break
        delivery = attempt_delivery(pk)
        if delivery is None:
            continue
        attempted += 1
        delivered += delivery.status == CallbackDelivery.DELIVERED
        failed += delivery.status == CallbackDelivery.FAILED
    if not attempted:
        return "no callback due"
    return f"attempted {attempted} callback(s): {delivered} delivered, {failed} gave up"


def hand_out_retry_callbacks() -> str:
    """The periodic job `retry_callbacks`: the POSTs run on the callbacks queue's workers
    (notify.retry_callbacks, retry_due_callbacks), never inside the tick, where slow receivers would
    hold a delivery worker (and the other periodic jobs) for up to RETRY_SECONDS. Two runs at once
    are harmless: each attempt claims its row."""
    publish("notify.retry_callbacks")
    return "handed to the callbacks queue"


# --- Member notifications ------------------------------------------------------------------------


def notify_members(
    account: Account, cause: str, about: str, subject: str, text: str, day: dt.date | None = None,
    params: dict | None = None,
) -> Notification | None:
    """Tell the account's members, once per (cause, what it is about, day). None when already told.

    subject and text are stored as given (English); with params, notify.texts renders them again in
    each reader's language (the console page, each member's email)."""
    day = day or platform_today()
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                account=account, cause=cause, cause_key=f"{cause}:{about}"[:100], day=day,
                subject=subject[:200], text=text, params=params or {},
            )
    except IntegrityError:
        return None
    transaction.on_commit(lambda: _email_members(notification.pk))
    return notification


def _email_members(notification_id: int) -> None:
    notification = Notification.objects.select_related("account").get(pk=notification_id)
    # Each member reads it in the language they last used the console in (Membership.language).
    languages = {}
    for m in notification.account.memberships.select_related("user"):
        if m.user.email and m.user.is_active:
            languages.setdefault(m.user.email, m.language or settings.LANGUAGE_CODE)
    if not languages:
        return
    messages = []
    for email in sorted(languages):
        with translation.override(languages[email]):
            subject, text = texts.render(notification.cause, notification.params) or (
                notification.subject, notification.text
            )
            body = texts.email_body(text, notification.account.name)
        messages.append((f"[sesconsole] {subject}", body, settings.DEFAULT_FROM_EMAIL, [email]))
    try:
        sent = send_mass_mail(messages, fail_silently=False)
    except Exception:
        # The console shows the notification anyway; a broken relay must not break what fired it.
        log.exception("could not email notification %s", notification_id)
        return
    Notification.objects.filter(pk=notification_id).update(emailed_to=sent)


def notify_level_changed(change) -> Notification | None:
    domain = change.domain
    params = {
        "domain": domain.name, "from_level": change.from_level, "to_level": change.to_level, "rule": change.rule,
        "when": timezone.localtime(change.effective_at).strftime("%Y-%m-%d %H:%M"), "cap": domain.daily_cap,
    }
    subject, text = texts.render(Notification.LEVEL_CHANGED, params, settings.LANGUAGE_CODE)
    return notify_members(domain.account, Notification.LEVEL_CHANGED, str(domain.pk), subject, text, params=params)


def notify_account_frozen(freeze) -> Notification | None:
    params = {"day": f"{freeze.day:%Y-%m-%d}", "rule": freeze.rule}
    subject, text = texts.render(Notification.ACCOUNT_FROZEN, params, settings.LANGUAGE_CODE)
    return notify_members(
        freeze.account, Notification.ACCOUNT_FROZEN, "account", subject, text, day=freeze.day, params=params
    )


def notify_domain_claim_removed(account_id: int, name: str, reason: str) -> Notification | None:
    """Tell an account's members its claim on `name` is gone: lost to another account, or expired.

    Which account won is not said: that is another tenant's business."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None:  # the account itself was deleted meanwhile
        return None
    cause = Notification.DOMAIN_CLAIM_LOST if reason == domain_signals.CLAIM_LOST else Notification.DOMAIN_CLAIM_EXPIRED
    params = {"domain": name, "days": UNVERIFIED_CLAIM_LIFETIME.days}
    subject, text = texts.render(cause, params, settings.LANGUAGE_CODE)
    # The name is the "about": a 253-character name would not fit the key, its digest does.
    about = name if len(name) <= 64 else hashlib.sha256(name.encode()).hexdigest()
    return notify_members(account, cause, about, subject, text, params=params)


def _upgrade_share_of_cap() -> str:
    """The share of the cap the upgrade rules ask for (the lowest, if they differ), from settings."""
    shares = levels.upgrade_shares()
    return f"{min(map(Decimal, shares)):g}" if shares else "?"


def _cap_warning_fraction() -> tuple[int, int]:
    """CAP_WARNING_PERCENT as an exact integer ratio (numerator, denominator) for SQL and Python alike."""
    percent = Decimal(levels.cap_warning_percent())
    return int(percent * 1000), 100_000


def check_cap_warning(row: DomainDay) -> Notification | None:
    """Warn the members once when a domain's day passes CAP_WARNING_PERCENT of its cap."""
    numerator, denominator = _cap_warning_fraction()
    if row.cap <= 0 or row.sent * denominator < row.cap * numerator:
        return None
    # cap_warned_at is claimed with a conditional UPDATE: two checks racing warn once.
    claimed = DomainDay.objects.filter(pk=row.pk, cap_warned_at__isnull=True).update(cap_warned_at=timezone.now())
    if not claimed:
        return None
    domain = row.domain
    params = {
        "domain": domain.name, "sent": row.sent, "cap": row.cap, "share": row.sent * 100 // row.cap,
        "upgrade_share": _upgrade_share_of_cap(),
    }
    subject, text = texts.render(Notification.CAP_WARNING, params, settings.LANGUAGE_CODE)
    return notify_members(
        domain.account, Notification.CAP_WARNING, str(domain.pk), subject, text, day=row.day, params=params
    )


def warn_domains_near_cap() -> str:
    """The periodic job: today's rows past the warning share that have not been warned yet."""
    numerator, denominator = _cap_warning_fraction()
    rows = (
        DomainDay.objects.filter(day=platform_today(), cap_warned_at__isnull=True, cap__gt=0)
        .alias(sent_scaled=F("sent") * denominator, cap_scaled=F("cap") * numerator)
        .filter(sent_scaled__gte=F("cap_scaled"))
        .select_related("domain__account")
    )
    warned = sum(check_cap_warning(row) is not None for row in rows)
    return f"warned about {warned} domain(s) near their cap" if warned else "no domain near its cap"


def mark_all_read(account: Account) -> int:
    return Notification.objects.filter(account=account, read_at__isnull=True).update(read_at=timezone.now())
