"""Delivery: claiming queued messages, handing them to the relay over SMTP, and the outbox sweeper.

    deliver_messages      what a worker runs for a list of Message ids (one SMTP connection for all)
    sweep_stale_messages  the periodic job that re-enqueues messages the broker or a worker lost

Every outcome goes through sending.recording.record_event, like the outcomes of every other path.

The one invariant that keeps a message from going out twice (SPEC §4.3): `smtp_started_at` is
written and committed before the SMTP transaction starts, and nothing ever re-sends a message whose
`smtp_started_at` is set. A retry (4xx) or an unreachable relay clears it again, because then the
transaction is known to have ended without the message being accepted.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sending import outcomes, tasks
from sending.mime import build_message
from sending.models import Message
from sending.recording import record_event
from sending.simulator import simulated_outcome

log = logging.getLogger(__name__)

SIMULATOR_URL = "https://example.com/"  # the link a simulated "click" recipient follows


class RelayDown(Exception):
    """The relay cannot be reached, or dropped the connection: nothing about the recipient."""

    def __init__(self, outcome: outcomes.Outcome):
        super().__init__(outcome.text)
        self.outcome = outcome


@dataclass
class Relay:
    """One SMTP connection to the configured relay, opened on first use and reused for a batch."""

    connection: smtplib.SMTP | None = None
    down: outcomes.Outcome | None = None  # once down, the rest of the batch waits for the next try
    connections: int = 0

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=settings.EMAIL_TIMEOUT)
        try:
            smtp.ehlo()
            if settings.EMAIL_USE_TLS:
                smtp.starttls()
                smtp.ehlo()
            if settings.EMAIL_HOST_USER:
                smtp.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
        except BaseException:
            smtp.close()
            raise
        self.connections += 1
        return smtp

    def send(self, sender: str, recipient: str, raw: bytes) -> outcomes.Outcome:
        """The relay's verdict on one recipient; RelayDown when the relay is not answering at all."""
        if self.down is not None:
            raise RelayDown(self.down)
        try:
            if self.connection is None:
                self.connection = self._connect()
            return self._transaction(self.connection, sender, recipient, raw)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, smtplib.SMTPHeloError,
                smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError, OSError) as exc:
            self.close()
            self.down = outcomes.classify_exception(exc)
            raise RelayDown(self.down) from exc

    @staticmethod
    def _transaction(smtp: smtplib.SMTP, sender: str, recipient: str, raw: bytes) -> outcomes.Outcome:
        code, reply = smtp.mail(sender)
        if code != 250:
            smtp.rset()
            return outcomes.classify_exception(smtplib.SMTPSenderRefused(code, reply, sender))
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            smtp.rset()
            return outcomes.classify_reply(code, reply)
        try:
            code, reply = smtp.data(raw)
        except smtplib.SMTPDataError as exc:  # DATA itself refused (no 354)
            smtp.rset()
            return outcomes.classify_exception(exc)
        if code != 250:
            smtp.rset()
        return outcomes.classify_reply(code, reply)

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None


@dataclass
class DeliveryReport:
    """What one deliver_messages call did; the counts are for logs and tests."""

    outcomes: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    connections: int = 0

    def add(self, kind: str) -> None:
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1


def deliver_messages(message_ids: list[int]) -> DeliveryReport:
    """Deliver the messages with these ids over one SMTP connection to the relay.

    1. Each message is claimed with one conditional UPDATE (queued, or deferred and due → sending);
       a message another worker claimed, or one already final, is skipped.
    2. A message of an account frozen today is dropped (SPEC §3.4), counted nowhere.
    3. Simulator recipients never leave: their fixed outcome is recorded like a relay's reply.
    4. Others: smtp_started_at is committed, then the SMTP transaction; its reply is recorded.
    """
    report = DeliveryReport()
    relay = Relay()
    visible: dict[str, tuple[list[str], list[str]]] = {}
    # One query for the group; a row's state may change meanwhile, which the conditional claim catches.
    loaded = Message.objects.select_related("domain", "account", "template").in_bulk(list(message_ids))
    try:
        for pk in message_ids:
            message = loaded.get(pk)
            if message is None or message.status not in (Message.QUEUED, Message.DEFERRED):
                report.skipped += 1
                continue
            if message.account.is_frozen():
                if record_event(message, "dropped", {"reason": "account frozen"}):
                    report.add("dropped")
                continue
            if not _claim(message):
                report.skipped += 1
                continue
            simulated = (
                simulated_outcome(message.recipient, settings.SES_SIMULATOR_DOMAIN)
                if settings.SES_SIMULATOR_ENABLED
                else None
            )
            if simulated is not None:
                with transaction.atomic():  # one commit for the reply and its follow-ups
                    _record_simulated(message, simulated)
                report.add(simulated.kind)
            else:
                report.add(_send(message, relay, visible))
    finally:
        relay.close()
    report.connections = relay.connections
    return report


def _claim(message: Message) -> bool:
    now = timezone.now()
    claimable = Q(status=Message.QUEUED) | Q(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=Message.DEFERRED
    )
    claimed = Message.objects.filter(claimable, pk=message.pk, smtp_started_at__isnull=True).update(
        status=Message.SENDING, claimed_at=now
    )
    if claimed:
        message.status, message.claimed_at = Message.SENDING, now
    return claimed == 1


def _record_simulated(message: Message, simulated) -> None:
    reply = simulated.reply
    Message.objects.filter(pk=message.pk).update(
        attempts=F("attempts") + 1, smtp_code=reply.code, smtp_reply=str(reply)[:1000]
    )
    record_event(message, reply.kind, _reply_detail(reply, simulator=True))
    for event in simulated.events:
        detail = {"simulator": True}
        if event == "clicked":
            detail["url"] = SIMULATOR_URL
        record_event(message, event, detail)


def _reply_detail(reply: outcomes.Outcome, **extra) -> dict:
    detail = {"reply": str(reply), "code": reply.code, "enhanced": reply.enhanced}
    detail.update(extra)
    return detail


def _visible_recipients(message: Message, cache: dict) -> tuple[list[str], list[str]]:
    """The To and Cc lists of the message's send: every copy shows them; Bcc is never shown."""
    if message.request_id not in cache:
        rows = Message.objects.filter(request_id=message.request_id, recipient_kind__in=["to", "cc"])
        to, cc = [], []
        for recipient, kind in rows.order_by("id").values_list("recipient", "recipient_kind")[:200]:
            (to if kind == "to" else cc).append(recipient)
        cache[message.request_id] = (to, cc)
    return cache[message.request_id]


def _send(message: Message, relay: Relay, visible: dict) -> str:
    if relay.down is not None:
        _wait_for_relay(message, relay.down)
        return "relay_down"
    if message.bulk:
        # Bulk mail is personal: each recipient of a list sees only their own address.
        raw = build_message(message)
    else:
        to, cc = _visible_recipients(message, visible)
        raw = build_message(message, to=to or None, cc=cc or None) if (to or cc) else build_message(message)
    # Committed before the transaction (autocommit): if this worker dies from here on, the sweeper
    # leaves the message alone rather than risk sending it twice.
    started = timezone.now()
    Message.objects.filter(pk=message.pk).update(smtp_started_at=started)
    try:
        reply = relay.send(message.from_email, message.recipient, raw)
    except RelayDown as down:
        _wait_for_relay(message, down.outcome)
        return "relay_down"
    attempts = message.attempts + 1
    if reply.kind == outcomes.RETRY and attempts > len(settings.SES_RETRY_DELAYS):
        reply = outcomes.give_up(reply)
    # The reply, its event, the day's counters and the checks they trigger: one commit, not ten.
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            attempts=attempts, smtp_code=reply.code, smtp_reply=str(reply)[:1000]
        )
        if reply.kind == outcomes.RETRY:
            delay = settings.SES_RETRY_DELAYS[attempts - 1]
            _defer(message, timezone.now() + dt.timedelta(seconds=delay), _reply_detail(reply, attempt=attempts))
            return "deferred"
        detail = _reply_detail(reply)
        if attempts > 1:
            detail["attempt"] = attempts
        record_event(message, reply.kind, detail)
    return reply.kind


def _defer(message: Message, next_attempt_at: dt.datetime, detail: dict) -> None:
    # The transaction ended without the message being accepted, so a new one is safe.
    Message.objects.filter(pk=message.pk, status=Message.SENDING).update(
        status=Message.DEFERRED, next_attempt_at=next_attempt_at, smtp_started_at=None, claimed_at=None
    )
    detail["next_attempt_at"] = next_attempt_at.isoformat()
    record_event(message, "deferred", detail)


def _wait_for_relay(message: Message, outcome: outcomes.Outcome) -> None:
    """The relay is our infrastructure: its absence never counts against the sender (no attempt)."""
    delay = dt.timedelta(seconds=settings.SES_RELAY_RETRY_SECONDS)
    _defer(message, timezone.now() + delay, {"reply": str(outcome), "relay": "unreachable"})


# --- the outbox sweeper ------------------------------------------------------------------------------

ENQUEUE_CHUNK = 50  # messages per task: one SMTP connection each


def sweep_stale_messages(now: dt.datetime | None = None) -> str:
    """Re-enqueue what the broker or a worker lost.

    1. Queued messages older than SES_SWEEP_QUEUED_AFTER_SECONDS and not handed out since then
       (the broker lost the task, or it was never sent).
    2. Claimed messages whose SMTP transaction never started, SES_SWEEP_CLAIM_TIMEOUT_SECONDS
       after the claim (the worker died first): back to queued.
    3. Deferred messages whose next attempt is due.
    4. A message whose SMTP transaction started SES_SWEEP_CLAIM_TIMEOUT_SECONDS ago and whose reply
       was never recorded: its worker died inside the transaction (a live one would have timed out
       long before, see EMAIL_TIMEOUT). The relay may or may not have it; it is sent again, the
       one case in which a message may go out twice (SPEC §4.3) — nothing is lost. A message whose
       reply was recorded is final or deferred and is never re-sent by the sweeper.

    Each hand-out is one conditional UPDATE of `claimed_at` (the "handed out at" mark while a message
    waits), so two sweepers running at once enqueue a message once.
    """
    now = now or timezone.now()
    recently = now - dt.timedelta(seconds=settings.SES_SWEEP_QUEUED_AFTER_SECONDS)
    not_handed_out = Q(claimed_at__isnull=True) | Q(claimed_at__lt=recently)
    ids: list[int] = []

    stuck_queued = Message.objects.filter(not_handed_out, status=Message.QUEUED, created_at__lt=recently)
    ids += _hand_out(stuck_queued, now, Q(status=Message.QUEUED) & not_handed_out)

    claim_cutoff = now - dt.timedelta(seconds=settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS)
    dead_claims = Message.objects.filter(
        status=Message.SENDING, smtp_started_at__isnull=True, claimed_at__lt=claim_cutoff
    )
    ids += _hand_out(
        dead_claims, now, Q(status=Message.SENDING, smtp_started_at__isnull=True, claimed_at__lt=claim_cutoff),
        status=Message.QUEUED,
    )

    due = Q(status=Message.DEFERRED, next_attempt_at__lte=now) & not_handed_out
    ids += _hand_out(Message.objects.filter(due), now, due)

    interrupted = Q(status=Message.SENDING, smtp_started_at__lt=claim_cutoff)
    resent = _hand_out(
        Message.objects.filter(interrupted), now, interrupted, status=Message.QUEUED, smtp_started_at=None
    )
    for message in Message.objects.filter(pk__in=resent):
        record_event(message, "retry", {"reason": "the worker died inside the SMTP transaction; sent again"})
    ids += resent

    for start in range(0, len(ids), ENQUEUE_CHUNK):
        tasks.enqueue(ids[start : start + ENQUEUE_CHUNK])
    return f"re-enqueued {len(ids)}, of which {len(resent)} interrupted inside SMTP"


def _hand_out(candidates, now: dt.datetime, still: Q, **changes) -> list[int]:
    taken = []
    for pk in candidates.order_by("id").values_list("id", flat=True)[:5000]:
        if Message.objects.filter(still, pk=pk).update(claimed_at=now, **changes):
            taken.append(pk)
    return taken
