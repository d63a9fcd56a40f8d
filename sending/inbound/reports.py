"""Bounce reports (RFC 3464 DSN) and complaint reports (RFC 5965 ARF), read from raw messages.

Pure Python (the stdlib `email` package): no Django, no database. Which report says what, and how
it is read: docs/inbound.md.

- parse_report(raw) -> [Finding]: one per recipient the report speaks about; InboundError (with a
  message a person can act on) when the message is not a readable report, and no other exception
- Finding: outcome, recipient and the ids that lead back to our message; `counted`
- DSN: _delivery_status, _dsn_reply, _dsn_outcome, _global_status_bytes (RFC 6533)
- ARF: _feedback_report; the original message's ids: _original_headers, _original_ids
"""

from __future__ import annotations

import binascii
import email
import email.utils
import quopri
import re
from dataclasses import dataclass, replace
from email import errors, policy
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser

from sending import outcomes

# The header our sender stamps on every message; the most reliable way back to our row.
OUR_MESSAGE_ID_HEADER = "X-SES-Message-Id"

MAX_REPORT_BYTES = 10 * 1024 * 1024

DELIVERY_STATUS = "delivery-status"
GLOBAL_DELIVERY_STATUS = "message/global-delivery-status"  # RFC 6533: UTF-8 fields and addresses
FEEDBACK_REPORT = "feedback-report"

DEFERRED = "deferred"
COMPLAINT = "complaint"
IGNORED = "ignored"
# Outcomes a caller records against the counters (a DSN "delivered" only confirms).
COUNTED = frozenset({outcomes.INVALID, outcomes.SPAM, outcomes.BOUNCED, COMPLAINT})

DSN_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})
NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})

STATUS_PARTS = frozenset({"message/delivery-status", GLOBAL_DELIVERY_STATUS})
FEEDBACK_PARTS = frozenset({"message/feedback-report"})
ORIGINAL_MESSAGE_PARTS = frozenset({"message/rfc822", "message/global"})
ORIGINAL_HEADER_PARTS = frozenset({"text/rfc822-headers", "message/global-headers"})
ORIGINAL_PARTS = ORIGINAL_MESSAGE_PARTS | ORIGINAL_HEADER_PARTS

STATUS_RE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
FOLD_RE = re.compile(r"\s*\r?\n\s*")


class InboundError(ValueError):
    """The raw message is not a report we can read; the message says why."""


@dataclass(frozen=True)
class Finding:
    """What one report says about one recipient of one of our messages."""

    report_type: str  # DELIVERY_STATUS or FEEDBACK_REPORT
    outcome: str  # invalid, spam, bounced, delivered, deferred, complaint, ignored
    recipient: str | None  # the address we sent to, as the report gives it
    message_id: str | None = None  # the original Message-ID, without angle brackets
    ses_message_id: str | None = None  # our X-SES-Message-Id header of the original
    envelope_id: str | None = None  # DSN Original-Envelope-Id (our ENVID), if the relay kept it
    report_id: str | None = None  # the report's own Message-ID, to spot a report fed twice
    # DSN
    action: str | None = None
    status: str | None = None
    diagnostic: str | None = None
    final_recipient: str | None = None
    reply: outcomes.Outcome | None = None
    # ARF
    feedback_type: str | None = None

    @property
    def counted(self) -> bool:
        return self.outcome in COUNTED


def parse_report(raw: bytes | str) -> list[Finding]:
    """Read one raw DSN or ARF message; InboundError when it is not one."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, bytes | bytearray):
        raise InboundError(f"Expected the raw message as bytes, got {type(raw).__name__}.")
    if not raw.strip():
        raise InboundError("The message is empty.")
    if len(raw) > MAX_REPORT_BYTES:
        raise InboundError(
            f"The message is larger than {MAX_REPORT_BYTES // (1024 * 1024)} MB; reports are small."
        )
    try:
        message = email.message_from_bytes(bytes(raw), policy=policy.compat32)
        return _parse(message)
    except InboundError:
        raise
    except Exception as exc:  # hostile input must never crash the ingest command or endpoint
        raise InboundError(
            f"The message could not be read as a report ({type(exc).__name__}: {exc})."
        ) from exc


def _parse(message: Message) -> list[Finding]:
    content_type = message.get_content_type()
    if content_type != "multipart/report":
        raise InboundError(
            f"Not a bounce or complaint report: the message is {content_type}, not multipart/report."
        )
    parts = message.get_payload()
    if not isinstance(parts, list) or not parts:
        raise InboundError("The multipart/report message has no parts (truncated, or a broken boundary).")
    report_type = _report_type(message, parts)
    report_id = _message_id(_field(message, "Message-ID"))
    if report_type in (DELIVERY_STATUS, "global-delivery-status"):
        return _delivery_status(parts, report_id)
    if report_type == FEEDBACK_REPORT:
        return _feedback_report(parts, report_id)
    raise InboundError(f"Unsupported report type {report_type!r}: only delivery-status and feedback-report.")


def _report_type(message: Message, parts: list[Message]) -> str:
    value = message.get_param("report-type")
    if isinstance(value, tuple):  # RFC 2231-encoded parameter
        value = email.utils.collapse_rfc2231_value(value)
    if value:
        return str(value).strip().lower()
    # Some generators forget the parameter; the machine-readable part says what the report is.
    types = {part.get_content_type() for part in parts}
    if types & STATUS_PARTS:
        return DELIVERY_STATUS
    if types & FEEDBACK_PARTS:
        return FEEDBACK_REPORT
    raise InboundError(
        "The multipart/report has no report-type and no delivery-status or feedback-report part."
    )


# Delivery status notifications (RFC 3464)


def _delivery_status(parts: list[Message], report_id: str | None) -> list[Finding]:
    status_part = _first_part(parts, STATUS_PARTS)
    if status_part is None:
        raise InboundError("The delivery report has no message/delivery-status part (missing or truncated).")
    blocks = _field_blocks(status_part)
    recipient_blocks = [b for b in blocks if b.get("Final-Recipient") or b.get("Action")]
    if not recipient_blocks:
        raise InboundError("The delivery report names no recipient (no Final-Recipient field).")
    per_message = next((b for b in blocks if b not in recipient_blocks), None)
    envelope_id = _field(per_message, "Original-Envelope-Id") if per_message is not None else None
    message_id, ses_message_id = _original_ids(_original_headers(parts))

    findings = []
    for block in recipient_blocks:
        final_recipient = _address(_field(block, "Final-Recipient"))
        if not final_recipient:
            raise InboundError("A recipient block of the delivery report has no Final-Recipient address.")
        action = (_field(block, "Action") or "").split(" ", 1)[0].lower()
        if action not in DSN_ACTIONS:
            raise InboundError(
                f"Recipient {final_recipient}: the Action field is {action or 'missing'!r}, "
                f"expected one of {', '.join(sorted(DSN_ACTIONS))}."
            )
        match = STATUS_RE.search(_field(block, "Status") or "")
        status = match.group(1) if match else None
        diagnostic = _field(block, "Diagnostic-Code")
        reply = _dsn_reply(action, status, diagnostic)
        findings.append(
            Finding(
                report_type=DELIVERY_STATUS,
                outcome=_dsn_outcome(action, reply),
                recipient=_address(_field(block, "Original-Recipient")) or final_recipient,
                message_id=message_id,
                ses_message_id=ses_message_id,
                envelope_id=envelope_id,
                report_id=report_id,
                action=action,
                status=status,
                diagnostic=diagnostic,
                final_recipient=final_recipient,
                reply=reply,
            )
        )
    return findings


def _dsn_reply(action: str, status: str | None, diagnostic: str | None) -> outcomes.Outcome:
    """The Status field decides the class (RFC 3464); the diagnostic adds the code and the words.

    A vague Status (X.0.0) yields to a specific enhanced status in the diagnostic of the same class.
    """
    kind, _, text = (diagnostic or "").partition(";")
    code = None
    if kind.strip().lower() == "smtp":
        code, text = outcomes.parse_reply(text)
    else:
        text = text.strip() or (diagnostic or "")
    enhanced = status
    if status and status.split(".")[1] == "0":
        enhanced = outcomes.find_enhanced(text, status[0]) or status
    if enhanced:
        reply = replace(outcomes.classify_status(enhanced, text), code=code)
    elif code is not None:
        reply = outcomes.classify_reply(code, text)
    else:
        reply = outcomes.Outcome(outcomes.RETRY, None, None, text, hard=False)
    if action == "failed" and reply.kind in (outcomes.RETRY, outcomes.DELIVERED):
        # The relay gave up: whatever the status says, the message is not going anywhere.
        reply = replace(reply, kind=outcomes.BOUNCED, hard=True)
    return reply


def _dsn_outcome(action: str, reply: outcomes.Outcome) -> str:
    if action == "failed":
        return reply.kind
    if action == "delayed":
        return DEFERRED
    return outcomes.DELIVERED


def _field_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list) and part.get_content_type() == GLOBAL_DELIVERY_STATUS:
        body = _global_status_bytes(part, payload)
    elif isinstance(payload, list):  # the stdlib splits message/delivery-status into field blocks
        return [block for block in payload if isinstance(block, Message)]
    else:
        body = part.get_payload(decode=True) or b""
    text = body.decode("utf-8", "replace").replace("\r\n", "\n")
    return [HeaderParser(policy=policy.compat32).parsestr(block) for block in re.split(r"\n\s*\n", text)]


def _global_status_bytes(part: Message, payload: list) -> bytes:
    """The body of a message/global-delivery-status part (RFC 6533), as it came, decoded.

    The stdlib splits only message/delivery-status into field blocks; it reads any other message/*
    part as one embedded message, whose headers are the per-message fields and whose body is the
    rest. Written back together (the headers as they came, raw UTF-8 included) and undone of its
    transfer encoding, it is split into blocks like a message/delivery-status body."""
    embedded = payload[0] if payload and isinstance(payload[0], Message) else Message()
    headers = "".join(f"{name}: {value}\n" for name, value in embedded.raw_items())
    body = embedded.get_payload(decode=True) or b""  # its bytes as they came (the fields have no CTE)
    # No blank line was read between the two when the first line that is not a field ended them.
    no_separator = any(isinstance(d, errors.MissingHeaderBodySeparatorDefect) for d in embedded.defects)
    raw = (headers + ("" if no_separator or not headers else "\n")).encode("ascii", "surrogateescape") + body
    encoding = _transfer_encoding(part)
    if encoding == "base64":
        return binascii.a2b_base64(raw)
    if encoding == "quoted-printable":
        return quopri.decodestring(raw)
    return raw


# Feedback reports (RFC 5965)


def _feedback_report(parts: list[Message], report_id: str | None) -> list[Finding]:
    report_part = _first_part(parts, FEEDBACK_PARTS)
    if report_part is None:
        raise InboundError("The feedback report has no message/feedback-report part (missing or truncated).")
    blocks = _field_blocks(report_part)
    fields = blocks[0] if blocks else Message()
    feedback_type = (_field(fields, "Feedback-Type") or "").split(" ", 1)[0].lower()
    if not feedback_type:
        raise InboundError("The feedback report has no Feedback-Type field.")
    original = _original_headers(parts)
    if original is None:
        raise InboundError("The feedback report does not include the original message or its headers.")
    message_id, ses_message_id = _original_ids(original)

    recipients = [_address(value) for value in _fields(fields, "Original-Rcpt-To")]
    recipients = [r for r in recipients if r]
    if not recipients:
        # Many feedback loops leave out Original-Rcpt-To; the original To names the complainer
        # when it names exactly one address (redacted copies name none and stay None).
        to = [addr for _, addr in email.utils.getaddresses(_fields(original, "To")) if "@" in addr]
        recipients = to if len(to) == 1 else [None]
    outcome = IGNORED if feedback_type in NOT_COMPLAINTS else COMPLAINT
    return [
        Finding(
            report_type=FEEDBACK_REPORT,
            outcome=outcome,
            recipient=recipient,
            message_id=message_id,
            ses_message_id=ses_message_id,
            report_id=report_id,
            feedback_type=feedback_type,
        )
        for recipient in recipients
    ]


# Shared helpers


def _first_part(parts: list[Message], content_types: frozenset[str]) -> Message | None:
    return next((part for part in parts if part.get_content_type() in content_types), None)


def _original_headers(parts: list[Message]) -> Message | None:
    """The returned original message (or only its headers), the third part of either report."""
    part = _first_part(parts, ORIGINAL_PARTS)
    if part is None:
        return None
    # message/global-headers is message/*: the stdlib reads it as an embedded message too.
    payload = part.get_payload()
    if isinstance(payload, list) and _transfer_encoding(part) in ("base64", "quoted-printable"):
        # RFC 6532 lets message/global and global-headers carry a transfer encoding: the
        # stdlib parsed the still-encoded text as the message; undo it and parse again.
        raw = _global_status_bytes(part, payload)
        return BytesHeaderParser(policy=policy.compat32).parsebytes(raw.lstrip(b"\r\n"))
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    body = part.get_payload(decode=True) or b""
    return BytesHeaderParser(policy=policy.compat32).parsebytes(body.lstrip(b"\r\n"))


def _transfer_encoding(part: Message) -> str:
    """The part's Content-Transfer-Encoding, lower case ("" when it has none)."""
    return str(part.get("Content-Transfer-Encoding", "")).strip().lower()


def _original_ids(headers: Message | None) -> tuple[str | None, str | None]:
    if headers is None:
        return None, None
    ses_message_id = _field(headers, OUR_MESSAGE_ID_HEADER)
    return _message_id(_field(headers, "Message-ID")), ses_message_id.strip("<>") if ses_message_id else None


def _fields(message: Message, name: str) -> list[str]:
    return [_unfold(value) for value in _raw_values(message, name)]


def _field(message: Message | None, name: str) -> str | None:
    if message is None:
        return None
    value = next(iter(_raw_values(message, name)), None)
    if value is None:
        return None
    return _unfold(value) or None


def _raw_values(message: Message, name: str) -> list[str]:
    """The values of the field `name`, raw 8-bit text read as UTF-8 (RFC 6532/6533 reports write
    `Final-Recipient: utf-8; ann@bücher.example` so); compat32's get() would turn it into U+FFFD."""
    name = name.lower()
    values = []
    for key, value in message.raw_items():
        if key.lower() == name:
            if isinstance(value, str) and not value.isascii():
                # Bytes the parser could not decode come as surrogates; an undecodable one becomes U+FFFD.
                value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            values.append(value)
    return values


def _unfold(value: object) -> str:
    # compat32 hands back a Header object for undecodable 8-bit values; str() never fails on it.
    # NUL is dropped: no address or id has one, and PostgreSQL cannot store or look one up.
    return FOLD_RE.sub(" ", str(value)).replace("\x00", "").strip()


def _address(value: str | None) -> str | None:
    """The address of "rfc822; user@example.com", "utf-8; user@bücher.example" or "<user@example.com>".

    A utf-8 address (RFC 6533) may write a character as \\x{HEX}: it is written back as that character."""
    if not value:
        return None
    address_type, _, address = value.rpartition(";")
    address = address.strip()
    if address_type.strip().lower() == "utf-8":
        address = EMBEDDED_UNICODE_RE.sub(_embedded_unicode, address)
    parsed = email.utils.parseaddr(address)[1]
    return (parsed or address.strip("<> ")) or None


# RFC 6533's EmbeddedUnicodeChar: \x{ and 2 to 6 hex digits of a code point, }.
EMBEDDED_UNICODE_RE = re.compile(r"\\x\{([0-9A-Fa-f]{2,6})\}")


def _embedded_unicode(match: re.Match) -> str:
    code = int(match.group(1), 16)
    if code < 0x80 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:  # ASCII or no character: left as written
        return match.group(0)
    return chr(code)


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = re.search(r"<([^<>]+)>", value)
    return (match.group(1) if match else value).strip() or None
