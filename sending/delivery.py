"""Delivery: the pipeline a worker runs for a group of messages, as a sequence of named steps.

    deliver_messages  a group of Message ids over one SMTP connection, for one turn
                      (SES_DELIVERY_TURN_SECONDS); the ids not reached go back to the backlog queue
    The steps of one message, in this order in the file:
    claim             its conditional UPDATE (sending.states.claim), or its drop (account frozen today)
    build             its envelope in ASCII and its MIME bytes (sending.mime.compose_message)
    sign              its DKIM signature (sending.mime.dkim_sign)
    hand_to_relay     the SMTP transaction (sending.relay), its end of the data only after the claim's commit
    classify          the reply as the message's outcome: a retry, or final (a bounce once retries run out)
    record            a retry deferred at once; a final reply written by the next claim's commit
    apply_replies     the end of the group: the group's final replies applied (sending.recording)
    ENQUEUE_CHUNK     ids per delivery task

The SMTP client is sending.relay; every write of a message's state is sending.states; every outcome
goes through sending.recording, like the outcomes of every other path; the outbox sweeper is
sending.sweeper. Why the claim commits while the relay takes the message, and why a message costs
one durable commit (the invariant that keeps a message from going out twice): docs/delivery.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core import addresses
from sending import outbox, outcomes, states
from sending.mime import compose_message, dkim_sign
from sending.models import Message
from sending.recording import event_group, record_event, record_final_events
from sending.relay import Relay, RelayDown
from sending.simulator import simulated_outcome
from sending.states import PendingReplies

log = logging.getLogger(__name__)

ENQUEUE_CHUNK = 50  # messages per task: one SMTP connection each
SIMULATOR_URL = "https://example.com/"  # the link a simulated "click" recipient follows
FINISH_MARGIN = 0.1  # of the claim timeout: the end of the data is never sent closer to it than this
REPLY_RETRY_SHARE = 0.5  # of the claim timeout, counted from smtp_started_at: how long a lost reply is retried


@dataclass
class DeliveryReport:
    """What one deliver_messages call did; the counts are for logs and tests."""

    outcomes: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    connections: int = 0
    handed_back: int = 0  # not reached when the turn ended: handed to the queues again

    def add(self, kind: str) -> None:
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1


def deliver_messages(message_ids: list[int], *, turn_seconds: float | None = None) -> DeliveryReport:
    """Deliver the messages with these ids over one SMTP connection to the relay.

    1. Each message is claimed with one conditional UPDATE (queued, or deferred and due, and its
       account not frozen today → sending); a message another worker claimed, or one already final,
       is skipped.
    2. A message of an account frozen today is dropped (SPEC §3.4), counted nowhere.
    3. Simulator recipients never leave: their fixed outcome is recorded like a relay's reply.
    4. Others are built first (MIME, DKIM); then the claim commits smtp_started_at with it, the SMTP
       transaction runs, and its reply with all it triggers is recorded in one more commit.
    5. After `turn_seconds` the turn ends: the messages not reached yet (untouched, still queued)
       are handed to the backlog queue (sending.outbox.enqueue_backlog), behind whatever other
       accounts queued meanwhile, so no group holds a worker for long while others wait. The worker's task
       passes SES_DELIVERY_TURN_SECONDS; None (a caller that is not a worker) delivers the whole group.
    """
    report = DeliveryReport()
    relay = Relay()
    replies = PendingReplies()
    visible: dict[str, tuple[list[str], list[str]]] = {}
    # One query for the group; a row's state may change meanwhile, which the conditional claim catches.
    loaded = Message.objects.select_related("domain", "account", "template").in_bulk(list(message_ids))
    # One group for listeners too: e.g. the callback endpoint is looked up once per account, not per message.
    with event_group():
        rest = _deliver_turn(message_ids, loaded, relay, replies, visible, report, turn_seconds)
    report.connections = relay.connections
    if rest:
        report.handed_back = len(rest)
        outbox.enqueue_backlog(rest)  # a group may mix accounts (the sweeper's): never in front of another's next message
    return report


def _deliver_turn(
    message_ids, loaded, relay: Relay, replies: PendingReplies, visible: dict, report: DeliveryReport,
    turn_seconds: float | None,
) -> list[int]:
    """The group's messages in order until its turn ends; returns the ids it did not reach."""
    turn_ends = time.monotonic() + turn_seconds if turn_seconds is not None else float("inf")
    message_ids = list(message_ids)
    try:
        for index, pk in enumerate(message_ids):
            if index and time.monotonic() >= turn_ends:
                return message_ids[index:]
            message = loaded.get(pk)
            if message is None or message.status not in (Message.QUEUED, Message.DEFERRED):
                report.skipped += 1
                continue
            simulated = (
                simulated_outcome(message.recipient, settings.SES_SIMULATOR_DOMAIN)
                if settings.SES_SIMULATOR_ENABLED
                else None
            )
            if simulated is not None:
                _deliver_simulated(message, simulated, report, replies)
            else:
                _deliver(message, relay, visible, report, replies)
        return []
    finally:
        relay.shutdown()
        apply_replies(replies)


def _deliver(message: Message, relay: Relay, visible: dict, report: DeliveryReport, replies: PendingReplies) -> None:
    """One message through the steps. A step that returns None has already recorded why the message
    leaves the pipeline (refused, skipped, deferred): nothing more is done with it here."""
    envelope = _envelope(message, report, replies)
    if envelope is None:
        return
    if relay.down is not None:  # nothing is built for a relay that is not there
        if claim(message, report, replies, start=False):
            _wait_for_relay(message, relay.down)
            report.add("relay_down")
        return
    content = build(message, visible, report, replies)
    if content is None:
        return
    reply = hand_to_relay(message, envelope, sign(message, content), relay, report, replies)
    if reply is None:
        return
    reply, attempts = classify(message, reply)
    record(message, reply, attempts, report, replies)


# --- the steps ---------------------------------------------------------------------------------------


def claim(message: Message, report: DeliveryReport, replies: PendingReplies, *, start: bool) -> bool:
    """Claim the message (sending.states.claim; with `start`, its SMTP transaction marked started in the
    same commit, which also writes the previous message's reply); if the claim failed because the
    account is frozen today, drop it (SPEC §3.4). The real SMTP path claims inside hand_to_relay."""
    if states.claim(message, replies, start=start):
        return True
    if message.account.is_frozen():
        if record_event(message, "dropped", {"reason": "account frozen"}):
            report.add("dropped")
            return False
    report.skipped += 1  # another worker claimed it, or it is final or not due
    return False


def _envelope(message: Message, report: DeliveryReport, replies: PendingReplies) -> tuple[str, str] | None:
    """The envelope's sender and recipient in ASCII (a non-ASCII domain, a row older than the A-label
    admission, as its A-label); None when one has no ASCII form: the message is refused."""
    try:
        recipient = addresses.to_ascii(message.recipient)
    except addresses.NotAsciiAddress:
        _refuse_no_ascii_form(message, report, replies)
        return None
    try:
        sender = addresses.to_ascii(message.from_email)
    except addresses.NotAsciiAddress:
        _refuse_no_ascii_form(message, report, replies, sender=message.from_email)
        return None
    return sender, recipient


def build(message: Message, visible: dict, report: DeliveryReport, replies: PendingReplies) -> bytes | None:
    """The message's MIME bytes, unsigned; None when an address header has no ASCII form (an older
    row's Reply-To): the message is refused."""
    try:
        if message.bulk:
            # Bulk mail is personal: each recipient of a list sees only their own address.
            return compose_message(message)
        to, cc = _visible_recipients(message, visible)
        return compose_message(message, to=to or None, cc=cc or None) if (to or cc) else compose_message(message)
    except addresses.NotAsciiAddress as exc:
        _refuse_no_ascii_form(message, report, replies, sender=str(exc))  # the address itself
        return None


def sign(message: Message, content: bytes) -> bytes:
    """The bytes as handed to the relay: a DKIM-Signature with the key and selector of the message's domain first."""
    return dkim_sign(content, message.domain)


def hand_to_relay(
    message: Message, envelope: tuple[str, str], raw: bytes, relay: Relay, report: DeliveryReport,
    replies: PendingReplies,
) -> outcomes.Outcome | None:
    """The SMTP transaction, with the claim committed in its middle: the relay's reply, or None when the
    message was not claimed, was started too long ago (left to the sweeper) or the relay is down
    (deferred without an attempt).

    The relay is taken up to the end of the data (another thread) while the claim commits here:
    claimed and marked started in one committed statement before the relay can accept the message
    (finish). If this worker dies from the commit on, the sweeper leaves the message alone rather
    than risk sending it twice; if it dies before, the relay discards the unfinished transaction.
    """
    sender, recipient = envelope
    begun = relay.begin_in_background(sender, recipient, raw)
    try:
        claimed = claim(message, report, replies, start=True)
    except BaseException:
        relay.abandon_begun(begun)
        raise
    if not claimed:
        relay.abandon_begun(begun)
        return None
    try:
        refused = begun.result()
        if refused is None and _past_its_claim(message):
            # The sweeper may have sent it again already: the relay discards this transaction.
            log.warning("message %s: its SMTP transaction outlived the claim timeout; left to the sweeper", message.pk)
            relay.abandon()
            report.add("too_late")
            return None
        return refused if refused is not None else relay.finish()
    except RelayDown as down:
        _wait_for_relay(message, down.outcome)
        report.add("relay_down")
        return None


def classify(message: Message, reply: outcomes.Outcome) -> tuple[outcomes.Outcome, int]:
    """The reply as the message's outcome, and the attempt it ends: a retry (4xx) once SES_RETRY_DELAYS
    have run out is a bounce (outcomes.give_up)."""
    attempts = message.attempts + 1
    if reply.kind == outcomes.RETRY and attempts > len(settings.SES_RETRY_DELAYS):
        reply = outcomes.give_up(reply)
    return reply, attempts


def record(
    message: Message, reply: outcomes.Outcome, attempts: int, report: DeliveryReport, replies: PendingReplies
) -> None:
    """A retry: the reply and the deferral in one commit, now. A final reply: held (PendingReplies), to
    be written by the next claim's commit and applied with the group (apply_replies)."""
    fields = states.reply_fields(attempts, reply)
    message.attempts, message.smtp_code, message.smtp_reply = attempts, reply.code, fields["smtp_reply"]
    if reply.kind == outcomes.RETRY:
        with transaction.atomic():  # the reply and the deferral: one commit
            states.write_reply(message, fields)
            delay = settings.SES_RETRY_DELAYS[attempts - 1]
            _defer(message, timezone.now() + dt.timedelta(seconds=delay), _reply_detail(reply, attempt=attempts))
        report.add("deferred")
        return
    detail = _reply_detail(reply)
    if attempts > 1:
        detail["attempt"] = attempts
    replies.hold(message, reply.kind, fields, detail)
    report.add(reply.kind)


def apply_replies(replies: PendingReplies) -> None:
    """The end of a group: its last reply written, then every final reply applied (recording.record_final_events)."""
    # The last reply is committed on its own first: if applying the group fails (a deadlock, a lost
    # connection), every reply is on record and the sweeper applies them instead of sending again.
    # A reply that cannot be written is a message the sweeper sends again (its worker may have died
    # inside SMTP): when the database connection was lost (a PostgreSQL restart), the reply is
    # written on a fresh connection as soon as the server is back, for as long as the sweeper is
    # far from acting on that message (half its claim timeout after its smtp_started_at).
    started = [m.smtp_started_at for m, _, _ in replies.replied if m.smtp_started_at is not None]
    retry_for = dt.timedelta(seconds=settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS * REPLY_RETRY_SHARE)
    until = max(started) + retry_for if started else timezone.now()
    _on_a_fresh_connection_if_lost(replies.write_reply, until)
    _on_a_fresh_connection_if_lost(lambda: record_final_events(replies.replied), until)
    replies.replied = []


# --- the side paths and helpers of the steps ---------------------------------------------------------


def _deliver_simulated(message: Message, simulated, report: DeliveryReport, replies: PendingReplies) -> None:
    """A simulator recipient never leaves: claimed, then its fixed reply and follow-ups recorded in one commit."""
    if not claim(message, report, replies, start=False):
        return
    with transaction.atomic():  # one commit for the reply and its follow-ups
        reply = simulated.reply
        states.write_reply(message, states.reply_fields(F("attempts") + 1, reply))
        record_event(message, reply.kind, _reply_detail(reply, simulator=True))
        for event in simulated.events:
            detail = {"simulator": True}
            if event == "clicked":
                detail["url"] = SIMULATOR_URL
            record_event(message, event, detail)
    report.add(simulated.kind)


def _refuse_no_ascii_form(
    message: Message, report: DeliveryReport, replies: PendingReplies, *, sender: str | None = None
) -> None:
    """A recipient, or the sender's From or Reply-To (`sender`), with no ASCII form (an older row: Django
    once admitted `ann@☃.example`) can never be sent (no SMTPUTF8): a final refusal of this message
    alone — the recipient's is an invalid address, recorded like a relay's 5.1.x (an attempt, the
    reply, the blacklist); the sender's a bounce (5.1.7) — with no SMTP transaction; the group goes on."""
    if not claim(message, report, replies, start=False):
        return
    if sender is not None:
        reply = outcomes.no_ascii_form(sender, sender=True)
    else:
        reply = outcomes.no_ascii_form(message.recipient)
    record_event(message, reply.kind, _reply_detail(reply), fields=states.reply_fields(message.attempts + 1, reply))
    report.add(reply.kind)


def _visible_recipients(message: Message, cache: dict) -> tuple[list[str], list[str]]:
    """The To and Cc lists of the message's send: every copy shows them; Bcc is never shown.

    Addresses are written in ASCII (a non-ASCII domain as its A-label); an older row with no ASCII
    form is refused as invalid when its own turn comes (_refuse_no_ascii_form), so it is left out of
    the headers rather than making every copy of the send unbuildable.
    """
    if message.request_id not in cache:
        rows = Message.objects.filter(request_id=message.request_id, recipient_kind__in=["to", "cc"])
        to, cc = [], []
        for recipient, kind in rows.order_by("id").values_list("recipient", "recipient_kind")[:200]:
            try:
                recipient = addresses.to_ascii(recipient)
            except addresses.NotAsciiAddress:
                continue
            (to if kind == "to" else cc).append(recipient)
        cache[message.request_id] = (to, cc)
    return cache[message.request_id]


def _past_its_claim(message: Message) -> bool:
    """Whether the message started SMTP so long ago (nearly the sweeper's claim timeout) that the sweeper
    may send it again: then its end of the data must not go, or a live worker would duplicate it."""
    # The relay's reply may take EMAIL_TIMEOUT after the end of the data, and writing it some more:
    # room for both is kept before the claim timeout, as well as the margin.
    claim_timeout = settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS
    limit = min(claim_timeout * (1 - FINISH_MARGIN), claim_timeout - 2 * settings.EMAIL_TIMEOUT)
    return timezone.now() - message.smtp_started_at > dt.timedelta(seconds=limit)


def _reply_detail(reply: outcomes.Outcome, **extra) -> dict:
    detail = {"reply": str(reply), "code": reply.code, "enhanced": reply.enhanced}
    detail.update(extra)
    return detail


def _defer(message: Message, next_attempt_at: dt.datetime, detail: dict) -> None:
    # The transaction ended without the message being accepted, so a new one is safe.
    states.defer(message, next_attempt_at)
    detail["next_attempt_at"] = next_attempt_at.isoformat()
    record_event(message, "deferred", detail)


def _wait_for_relay(message: Message, outcome: outcomes.Outcome) -> None:
    """The relay is our infrastructure: its absence never counts against the sender (no attempt)."""
    delay = dt.timedelta(seconds=settings.SES_RELAY_RETRY_SECONDS)
    _defer(message, timezone.now() + delay, {"reply": str(outcome), "relay": "unreachable"})


def _on_a_fresh_connection_if_lost(write, until: dt.datetime) -> None:
    """Run `write` (idempotent, one transaction); if the connection to the database is lost, retry it
    on a fresh connection with backoff until `until` (well inside the sweeper's claim timeout, after
    which the sweeper would act on the message itself); then give up and raise."""
    give_up_at = time.monotonic() + (until - timezone.now()).total_seconds()
    pause = 0.25
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + pause > give_up_at:
                raise
            log.warning("database connection lost while recording replies; retrying on a fresh connection")
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
