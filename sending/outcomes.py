"""What an SMTP reply means for a message (SPEC §3.1, §4.3).

Pure Python: no Django, no I/O. Every delivery path ends here: the relay's reply to our SMTP
transaction, a delivery failure that never got a reply, and the status of a bounce report
(sending.inbound.reports).

Kinds, named like the counters in domains.reputation.services.OUTCOME_COUNTERS:

- ``delivered``: 2xx.
- ``invalid``: the recipient does not exist or is malformed: enhanced status 5.1.x, NXDOMAIN or no
  mail host for the recipient's domain, bad syntax; also a 5xx without a specific enhanced status
  whose text says the user is unknown (QQ's "Mailbox not found", Yahoo's "doesn't have a yahoo.com
  account", Outlook.com's "5.5.0 ... mailbox unavailable").
- ``spam``: the mail was judged spam or refused by policy: enhanced 5.7.x, or spam / block-list /
  policy text in a 5xx reply.
- ``bounced``: any other 5xx, and a 4xx whose retries ran out (``give_up``).
- ``retry``: 4xx, a connection that failed before a reply, a reply that makes no sense.

Order of precedence inside a 5xx: 5.1.x, then 5.7.x, then spam text, then user-unknown text,
then bounced. The enhanced status is trusted when it is specific; user-unknown text only counts
when the enhanced status is absent or says nothing about the mailbox (X.0.X "other", X.5.X
"protocol"), because Outlook.com answers a missing mailbox with "550 5.5.0 ... mailbox unavailable".

One deliberate exception to "5.1.x is invalid": X.1.7 and X.1.8 are, per RFC 3463, about the
*sender's* address (ours). Counting them as an invalid recipient would blacklist a good address
for our own DNS fault, so they are bounced (SENDER_ADDRESS_DETAILS).
"""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass, replace

DELIVERED = "delivered"
INVALID = "invalid"
SPAM = "spam"
BOUNCED = "bounced"
RETRY = "retry"
KINDS = (DELIVERED, INVALID, SPAM, BOUNCED, RETRY)

# RFC 3463 X.1.7 "bad sender's mailbox address syntax", X.1.8 "bad sender's system address".
SENDER_ADDRESS_DETAILS = frozenset({"1.7", "1.8"})

# Subjects of an enhanced status that say nothing about the recipient's mailbox, so the reply text
# may still reveal an unknown user: X.0.X other/undefined, X.5.X mail delivery protocol.
VAGUE_SUBJECTS = frozenset({"0", "5"})

# A.B.C with class 2/4/5, not part of an IP address or a longer dotted number ("4.16.55.1").
ENHANCED_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
REPLY_LINE_RE = re.compile(r"^\s*(\d{3})(?:[ -]|$)(.*)$")

SPAM_RE = re.compile(
    r"spam"  # spam, antispam, Spamhaus, SpamCop, help_spam
    r"|\bblocked\b|\bblock ?list|\bblack ?list|\bdeny ?list"
    r"|\blisted (?:at|on|in|by)\b|\b(?:dns)?rbl\b"
    r"|rejected due to (?:local )?polic|polic(?:y|ies) (?:reasons?|violation|restriction)"
    r"|(?:rejected|denied|refused|blocked) (?:by|for|because of|due to) (?:our |local |content |security )?polic"
    r"|content (?:rejected|denied|filter)|unsolicited|\bjunk\b|phish|\bvirus|malware|reputation",
    re.IGNORECASE,
)
USER_UNKNOWN_RE = re.compile(
    r"user (?:is )?unknown|unknown (?:user|recipient|mailbox|address|alias)"
    r"|no such (?:user|mailbox|recipient|address|account|person)"
    r"|(?:user|mailbox|recipient|address|account) (?:does ?n[o']t|did ?n[o']t|does not|did not) exist"
    r"|(?:user|mailbox|recipient|address|account) (?:not found|unknown)"
    r"|invalid (?:recipient|mailbox|address|user)|mailbox unavailable|recipientnotfound"
    r"|does ?n[o']t have an? \S+ account|not our customer",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Outcome:
    """One classified reply. `hard` means a permanent failure: the message ends here, undelivered."""

    kind: str
    code: int | None
    enhanced: str | None
    text: str
    hard: bool

    @property
    def final(self) -> bool:
        """Whether the message's fate is settled (everything but a retry)."""
        return self.kind != RETRY

    def __str__(self) -> str:
        enhanced = "" if self.text.startswith(self.enhanced or "\0") else self.enhanced or ""
        return " ".join(p for p in (str(self.code or ""), enhanced, self.text) if p)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip()


def parse_reply(reply: str | bytes) -> tuple[int | None, str]:
    """Split a whole SMTP reply ("550-5.1.1 a\\n550 5.1.1 b") into its code and its text.

    The text keeps one line per reply line without the code prefixes, as smtplib returns it.
    A reply without a leading three-digit code gives (None, the text).
    """
    lines = _text(reply).splitlines()
    code = None
    texts = []
    for line in lines:
        match = REPLY_LINE_RE.match(line)
        if match and (code is None or int(match.group(1)) == code):
            code = int(match.group(1))
            texts.append(match.group(2).strip())
        else:
            texts.append(line.strip())
    return code, "\n".join(t for t in texts if t)


def find_enhanced(text: str, reply_class: str | None = None) -> str | None:
    """The first enhanced status code (RFC 3463) in the text whose class agrees with the reply's.

    RFC 3463 says the class must match the reply code's first digit; a code that disagrees is more
    likely part of something else (a version number, a server name) and is ignored.
    """
    for match in ENHANCED_RE.finditer(text):
        if reply_class is None or match.group(1) == reply_class:
            return ".".join(match.groups())
    return None


def _normalize_enhanced(enhanced: str | None) -> str | None:
    if not enhanced:
        return None
    match = ENHANCED_RE.search(enhanced.strip())
    return ".".join(match.groups()) if match else None


def _classify_permanent(enhanced: str | None, text: str) -> str:
    if enhanced:
        _, subject, detail = enhanced.split(".")
        if subject == "1":
            return BOUNCED if f"{subject}.{detail}" in SENDER_ADDRESS_DETAILS else INVALID
        if subject == "7":
            return SPAM
    if SPAM_RE.search(text):
        return SPAM
    if (enhanced is None or enhanced.split(".")[1] in VAGUE_SUBJECTS) and USER_UNKNOWN_RE.search(text):
        return INVALID
    return BOUNCED


def classify_reply(code: int | None, text: str | bytes = "", enhanced: str | None = None) -> Outcome:
    """Classify an SMTP reply: its code, its text, and its enhanced status if known apart.

    Without `enhanced`, the enhanced status is read from the text. Without `code` (a DSN that
    carries only a Status field), the enhanced status's class stands in for the reply class.
    A reply that is neither 2xx, 4xx nor 5xx breaks the protocol: it is retried, never counted.
    """
    text = _text(text)
    reply_class = str(code)[0] if code is not None else None
    enhanced = _normalize_enhanced(enhanced) or find_enhanced(text, reply_class)
    if enhanced and reply_class and enhanced[0] != reply_class:
        enhanced = None
    effective = reply_class or (enhanced[0] if enhanced else None)
    if code is not None and not 200 <= code <= 599:
        effective = None

    if effective == "2":
        return Outcome(DELIVERED, code, enhanced, text, hard=False)
    if effective == "5":
        return Outcome(_classify_permanent(enhanced, text), code, enhanced, text, hard=True)
    return Outcome(RETRY, code, enhanced, text, hard=False)


def classify_status(status: str | None, text: str | bytes = "", code: int | None = None) -> Outcome:
    """Classify a DSN Status field ("5.1.1") with the diagnostic text that came with it."""
    return classify_reply(code, text, enhanced=status)


def give_up(outcome: Outcome) -> Outcome:
    """A temporary failure whose retries ran out: it ends as a permanent bounce (SPEC §4.3)."""
    if outcome.kind != RETRY:
        return outcome
    return replace(outcome, kind=BOUNCED, hard=True)


# Failures that never got a reply from the recipient's side.


def nxdomain(domain: str) -> Outcome:
    """The recipient's domain does not exist."""
    return Outcome(INVALID, None, "5.1.2", f"Domain {domain} does not exist (NXDOMAIN)", hard=True)


def no_mail_host(domain: str) -> Outcome:
    """The recipient's domain has no MX and no address record, or a null MX (RFC 7505)."""
    return Outcome(INVALID, None, "5.1.2", f"Domain {domain} accepts no mail (no MX)", hard=True)


def bad_syntax(address: str) -> Outcome:
    """The recipient address is malformed."""
    return Outcome(INVALID, None, "5.1.3", f"Bad recipient address syntax: {address!r}", hard=True)


def no_ascii_form(address: str, *, sender: bool = False) -> Outcome:
    """The address cannot be written in ASCII (core.addresses.to_ascii), and SMTPUTF8 is not offered:
    IDNA refuses its domain, or its local part is not ASCII. No relay could take it. A recipient's is
    an invalid address (5.1.3); a sender's (`sender`) a bounce of this message (5.1.7, the sender's
    fault), the recipient is not blacklisted."""
    kind, code, word = (BOUNCED, "5.1.7", "sender") if sender else (INVALID, "5.1.3", "recipient")
    return Outcome(
        kind, None, code,
        f"Bad {word} address: {address!r} has no ASCII form (its domain is not a valid IDNA name"
        " or its local part is not ASCII; SMTPUTF8 is not offered)",
        hard=True,
    )


def connection_failed(reason: str) -> Outcome:
    """The relay could not be reached or dropped us before replying: try again later."""
    return Outcome(RETRY, None, None, reason, hard=False)


def classify_exception(exc: BaseException, recipient: str | None = None) -> Outcome:
    """Classify what smtplib (or the socket under it) raised while delivering a message.

    Only replies to our MAIL, RCPT and DATA commands speak about the message. A refusal of our
    MAIL FROM is about our sender, so it is never an invalid *recipient*. Authentication, HELO and
    greeting failures are our relay's configuration: retried, never counted against the domain.
    Anything that is not an SMTP or socket error is a bug and raises TypeError.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = exc.recipients or {}
        if not refused:
            return connection_failed("All recipients were refused, without a reply")
        code, message = refused.get(recipient) or next(iter(refused.values()))
        return classify_reply(code, message)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        outcome = classify_reply(exc.smtp_code, exc.smtp_error)
        return replace(outcome, kind=BOUNCED) if outcome.kind == INVALID else outcome
    if isinstance(exc, smtplib.SMTPDataError):
        return classify_reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPResponseException):
        return connection_failed(f"{exc.smtp_code} {_text(exc.smtp_error)}".strip())
    if isinstance(exc, smtplib.SMTPException | OSError):
        return connection_failed(f"{type(exc).__name__}: {exc}".strip())
    raise TypeError(f"not an SMTP delivery failure: {exc!r}")
