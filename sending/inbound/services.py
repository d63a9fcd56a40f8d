"""Outcomes that arrive after the SMTP transaction: DSN/ARF reports and the MTA event webhook.

Both only find OUR message and hand the outcome to sending.recording.record_event (idempotent:
a report or webhook event fed twice is counted once); docs/inbound.md.

- apply_report(raw) -> [Applied]: a raw DSN/ARF message (ingest_mail, POST /inbound/report)
- find_message(finding): our message a finding speaks about, or None
- signature_matches(secret, body, header): the webhook's X-SES-Signature
- apply_webhook(body) -> [Applied]: a JSON list of MTA events (POST /inbound/events); WebhookError
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from core import unusable
from sending import outcomes
from sending.inbound.reports import Finding, parse_report
from sending.models import Message
from sending.recording import record_event
from sending.services import address_lookup_forms

# Counted report outcomes → record_event kinds (the names happen to agree except the complaint).
REPORT_KINDS = {
    outcomes.INVALID: "invalid",
    outcomes.SPAM: "spam",
    outcomes.BOUNCED: "bounced",
    "complaint": "complaint",
}
WEBHOOK_EVENTS = ("delivered", "bounce", "complaint", "deferred")
MAX_WEBHOOK_EVENTS = 1000


@dataclass(frozen=True)
class Applied:
    """What happened to one finding or one webhook event; printed by ingest_mail, returned as JSON."""

    recipient: str | None
    outcome: str
    message_id: str | None  # our MessageId, when we found the message
    recorded: bool
    note: str

    def as_dict(self) -> dict:
        return {
            "recipient": self.recipient,
            "outcome": self.outcome,
            "message_id": self.message_id,
            "recorded": self.recorded,
            "note": self.note,
        }

    def __str__(self) -> str:
        target = self.message_id or "no message"
        return f"{self.outcome} {self.recipient or '(recipient unknown)'} [{target}]: {self.note}"


class WebhookError(ValueError):
    """The webhook body is not what we accept; nothing was recorded."""


# --- DSN and ARF reports -------------------------------------------------------------------------


def apply_report(raw: bytes | str) -> list[Applied]:
    """Record what one raw DSN/ARF message says. InboundError (nothing written) when unreadable.

    1. Parse the report into findings, one per recipient (sending.inbound.reports).
    2. Findings that count nothing (a delay, a delivery confirmation, a not-spam report) are reported.
    3. Each counted finding is matched to our message; an unknown message is reported, nothing written.
    4. record_event applies it; a report seen before changes nothing (record_event is idempotent).
    """
    results = []
    for finding in parse_report(raw):
        if not finding.counted:
            results.append(Applied(finding.recipient, finding.outcome, None, False, "not counted"))
            continue
        message = find_message(finding)
        if message is None:
            results.append(Applied(finding.recipient, finding.outcome, None, False, "no such message of ours"))
            continue
        recorded = record_event(message, REPORT_KINDS[finding.outcome], _report_detail(finding))
        note = "recorded" if recorded else "already recorded"
        results.append(Applied(message.recipient, finding.outcome, message.message_id, recorded, note))
    return results


def find_message(finding: Finding) -> Message | None:
    """Our message a finding speaks about: by our header, then the Message-ID, then the envelope id.

    A candidate must have been sent to the recipient the report names (when it names one), so a
    report about someone else's mail that happens to quote one of our ids never touches our row.
    """
    recipients = _address_forms(finding.recipient, finding.final_recipient)
    candidates = []
    if finding.ses_message_id:
        candidates.append(Message.objects.filter(message_id=_our_id(finding.ses_message_id)))
    if finding.message_id and "@" in finding.message_id:
        local, _, host = finding.message_id.rpartition("@")
        # Our Message-ID is <message_id@sending domain>: both halves must agree.
        candidates.append(Message.objects.filter(message_id=_our_id(local), domain__name__iexact=host))
    if finding.envelope_id:
        candidates.append(Message.objects.filter(message_id=_our_id(finding.envelope_id)))
    for queryset in candidates:
        message = queryset.select_related("domain").first()
        if message is not None and (not recipients or _address_forms(message.recipient) & recipients):
            return message
    return None


def _address_forms(*addresses: str | None) -> set[str]:
    """The forms an address is found under, lower-cased (sending.services.address_lookup_forms): as
    written and with a non-ASCII domain as its IDNA A-label, so a report's `utf-8; ann@bücher.example`
    (RFC 6533) finds the message we sent to ann@xn--bcher-kva.example, and a message stored in Unicode
    (before A-labels) is found by a report naming its A-label."""
    forms: set[str] = set()
    for address in addresses:
        if address:
            forms |= address_lookup_forms(address)
    return forms


def _our_id(value: str) -> str:
    """Our MessageIds are uuid4 hex; relays and receivers sometimes hand them back dashed or uppercase."""
    value = value.strip().strip("<>")
    try:
        return uuid.UUID(value).hex
    except ValueError:
        return value


def _report_detail(finding: Finding) -> dict:
    detail = {"source": "arf" if finding.feedback_type else "dsn"}
    if finding.reply is not None:
        detail.update(reply=str(finding.reply), code=finding.reply.code, hard=finding.reply.hard)
    if finding.status:
        detail["status"] = finding.status
    if finding.feedback_type:
        detail["feedback_type"] = finding.feedback_type
    if finding.report_id:
        detail["report_id"] = finding.report_id
    return detail


# --- The MTA event webhook -----------------------------------------------------------------------


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """`X-SES-Signature: sha256=<hex HMAC-SHA256 of the body>`, compared in constant time."""
    if not secret or not header:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.strip().lower() != "sha256":
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters, which a forged header may carry.
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "surrogateescape"))


def apply_webhook(body: bytes) -> list[Applied]:
    """Record a JSON list of MTA events. WebhookError (nothing written) when any event is malformed.

    Every event is validated before the first is recorded, so a bad event in the middle of a list
    cannot leave half of it applied; an event about a message we do not know is reported, not an error.
    """
    events = _parse_webhook(body)
    results = []
    with transaction.atomic():
        for event in events:
            message = (
                Message.objects.filter(message_id=_our_id(event["message_id"])).select_related("domain").first()
            )
            if message is None or (
                event["recipient"] and not _address_forms(message.recipient) & _address_forms(event["recipient"])
            ):
                results.append(Applied(event["recipient"], event["event"], None, False, "no such message of ours"))
                continue
            kind, detail = _webhook_outcome(event)
            recorded = record_event(message, kind, detail)
            note = "recorded" if recorded else "already recorded"
            results.append(Applied(message.recipient, kind, message.message_id, recorded, note))
    return results


def _parse_webhook(body: bytes) -> list[dict]:
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise WebhookError("The body is not UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise WebhookError(f"The body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from exc
    except RecursionError:
        raise WebhookError(_("The body is nested too deeply.")) from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise WebhookError(_("The body has a number with too many digits.")) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise WebhookError("Expected a JSON list of events (or one event object).")
    found = unusable.find(data)
    if found is not None:  # PostgreSQL stores no NUL, and a lone surrogate has no UTF-8 form at all
        raise WebhookError(_(
            "Event %(index)s: %(name)s contains %(char)s; NUL, control characters (other than tab and line "
            "breaks), lone surrogates and noncharacters cannot be used."
        ) % {"index": found.path[0], "name": found.name().partition(".")[2], "char": unusable.code_point(found.char)})
    if len(data) > MAX_WEBHOOK_EVENTS:
        raise WebhookError(f"At most {MAX_WEBHOOK_EVENTS} events per request.")
    return [_parse_event(i, item) for i, item in enumerate(data)]


def _parse_event(index: int, item: object) -> dict:
    where = f"Event {index}"
    if not isinstance(item, dict):
        raise WebhookError(f"{where}: expected an object, got {type(item).__name__}.")
    message_id = item.get("message_id")
    if not isinstance(message_id, str) or not message_id.strip():
        raise WebhookError(f"{where}: message_id is required (a string).")
    event = item.get("event")
    if event not in WEBHOOK_EVENTS:
        raise WebhookError(f"{where}: event must be one of {', '.join(WEBHOOK_EVENTS)}, got {event!r}.")
    bounce_type = item.get("bounce_type")
    if event == "bounce" and bounce_type not in ("hard", "soft"):
        raise WebhookError(f"{where}: a bounce needs bounce_type 'hard' or 'soft', got {bounce_type!r}.")
    recipient = item.get("recipient") or ""
    reply = item.get("reply") or ""
    if not isinstance(recipient, str) or not isinstance(reply, str):
        raise WebhookError(f"{where}: recipient and reply must be strings.")
    return {
        "message_id": message_id.strip(),
        "event": event,
        "bounce_type": bounce_type,
        "recipient": recipient.strip(),
        "reply": reply.strip()[:1000],
    }


def _webhook_outcome(event: dict) -> tuple[str, dict]:
    """The record_event kind of one webhook event.

    A hard bounce is classified by its reply (5.1.x invalid address, 5.7.x or spam text a spam
    bounce, anything else bounced); a soft bounce reported by the MTA means its retries ran out.
    """
    detail = {"source": "webhook", "reply": event["reply"]}
    if event["event"] == "bounce":
        detail["bounce_type"] = event["bounce_type"]
        if event["bounce_type"] == "soft":
            return "bounced", detail
        code, text = outcomes.parse_reply(event["reply"])
        reply = outcomes.classify_reply(code, text)
        kind = reply.kind if reply.kind in (outcomes.INVALID, outcomes.SPAM) else outcomes.BOUNCED
        return kind, detail
    if event["event"] == "complaint":
        return "complaint", detail
    return event["event"], detail
