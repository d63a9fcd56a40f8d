"""Delivery: claiming queued messages, handing them to the relay over SMTP, and the outbox sweeper.

    deliver_messages      what a worker runs for a list of Message ids (one SMTP connection for all),
                          for one turn (SES_DELIVERY_TURN_SECONDS): the rest goes back to the queues
    sweep_stale_messages  the periodic job that re-enqueues messages the broker or a worker lost

Every outcome goes through sending.recording.record_event, like the outcomes of every other path.

The one invariant that keeps a message from going out twice (SPEC §4.3): `smtp_started_at` is
written and committed before the relay can accept the message, and nothing ever re-sends a message
whose `smtp_started_at` is set. The relay accepts a message at the end of its data, which is sent
only after that commit; MAIL, RCPT, DATA and the content go meanwhile (Relay.begin, in the relay's
thread, while the claim commits), and a transaction left unfinished — the claim failed, or the
worker died — is discarded by the relay when the connection drops. A retry (4xx) or an unreachable
relay clears it again, because then the transaction is known to have ended without the message
being accepted. So does any other failure before the end of the data (an exception smtplib or our
code did not foresee): the relay is taken as down for the rest of the group, no attempt counted.
The end of the data is not sent at all once the message's smtp_started_at is nearly the sweeper's
claim timeout old (FINISH_MARGIN): the transaction is dropped and the message left to the sweeper,
which may have sent it already. A reply is the message's outcome even when the relay closes the connection right after it (a 550
and goodbye, a 421 shutting down); the next message opens a new connection, and a reused connection
found closed at its first command is opened again once before the relay counts as down.

Each message costs one durable commit (its claim, carrying the previous message's reply), and that
commit's WAL flush is most of a worker's time. Why it stays synchronous (`synchronous_commit` on):
with it off, the commit returns before its WAL is on disk. A worker killed with -9 loses nothing by
that (the server holds the commit), nor does a PostgreSQL restart (a clean or fast shutdown writes
all WAL first). A PostgreSQL crash does: a killed postmaster or backend (the OOM killer, which makes
the server reset every session), `pg_ctl stop -m immediate`, or the machine's power or kernel —
recovery ends at the last flushed commit, up to 3 × wal_writer_delay (600 ms by default) earlier.
The claims and replies of messages the relay had already accepted are then gone: those messages
are queued again, or "inside SMTP" without a reply, and the sweeper sends them a second time — at
a few hundred messages a second, a hundred or more duplicates per crash instead of at most one per
worker, which SPEC §4.3 does not allow. (Measured on the bench machine: about 25% more messages a
second with the claim's commit asynchronous.) Fewer durable commits than one a message would mean
several messages accepted between two of them, each a duplicate after a kill; so the commit is
overlapped with the SMTP exchange instead of removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import smtplib
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import AccountFreeze
from core import addresses
from core.clock import platform_today
from sending import outbox as tasks  # (enqueue_backlog; the name the body below uses)
from sending import outcomes
from sending.mime import build_message
from sending.models import Message
from sending.recording import event_group, record_event, record_final_events
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
            # The end of the data goes in a write of its own after the claim's commit (see begin):
            # without TCP_NODELAY, Nagle holds it until the relay's delayed ACK, ~40 ms a message.
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            smtp.close()
            raise
        self.connections += 1
        return smtp

    in_data: bool = False  # the message's content is sent, its end-of-data is not: nothing accepted yet
    _pool: ThreadPoolExecutor | None = None

    def send(self, sender: str, recipient: str, raw: bytes) -> outcomes.Outcome:
        """The relay's verdict on one recipient; RelayDown when the relay is not answering at all."""
        refused = self.begin(sender, recipient, raw)
        return refused if refused is not None else self.finish()

    def begin(self, sender: str, recipient: str, raw: bytes) -> outcomes.Outcome | None:
        """All of one SMTP transaction but its end: MAIL, RCPT, DATA and the content.

        None when the relay waits for the end of the data; the relay's refusal otherwise (the
        transaction is reset). The relay accepts nothing before finish() sends the end of the data:
        a transaction abandoned here (abandon(), or the process killed) is discarded by the relay
        (RFC 5321 §4.1.1.4). RelayDown when the relay is not answering at all.
        """
        if self.down is not None:
            raise RelayDown(self.down)
        try:
            with self._down_on_failure():
                return self._begin(sender, recipient, raw)
        except RelayDown:
            raise
        except Exception as exc:
            # Unforeseen (a bug, a library's surprise): the end of the data was never sent, so the relay
            # accepted nothing; it is unusable for now, like a relay that does not answer.
            log.exception("the relay transaction failed before the end of its data")
            self.drop()  # whatever state the connection is in, it goes without a QUIT
            self.down = outcomes.connection_failed(f"{type(exc).__name__}: {exc}".strip())
            raise RelayDown(self.down) from exc

    def _begin(self, sender: str, recipient: str, raw: bytes) -> outcomes.Outcome | None:
        if self.connection is None:
            self.connection = self._connect()
            code, reply = self.connection.mail(sender)
        else:
            try:
                code, reply = self.connection.mail(sender)
            except smtplib.SMTPServerDisconnected:
                code = None
            if code in (None, 421):
                # The relay closed the connection since its last reply, or said it is closing it (an
                # idle timeout, a restart): nothing had begun, so once more on a new connection before
                # taking its answer (or its silence) as the message's or calling it down.
                self.drop()
                self.connection = self._connect()
                code, reply = self.connection.mail(sender)
        smtp = self.connection
        if code != 250:
            self._reset()
            return outcomes.classify_exception(smtplib.SMTPSenderRefused(code, reply, sender))
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            self._reset()
            return outcomes.classify_reply(code, reply)
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:  # DATA itself refused
            self._reset()
            return outcomes.classify_exception(smtplib.SMTPDataError(code, reply))
        content = smtplib._quote_periods(raw)
        if content[-2:] != b"\r\n":
            content += b"\r\n"
        self.in_data = True
        smtp.send(content)
        return None

    def _reset(self) -> None:
        """RSET after a refusal (whose reply is already taken); a relay that closed the connection with its
        reply (421, or a 5xx and goodbye) is not down for that: the connection goes, the next message
        opens a new one."""
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self.drop()

    def drop(self) -> None:
        """Close the connection without a word to the relay."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self.in_data = False

    def finish(self) -> outcomes.Outcome:
        """End the data begun by begin(): the relay's verdict on the message."""
        with self._down_on_failure():
            smtp = self.connection
            smtp.send(b".\r\n")
            self.in_data = False
            # A reply lost here (the relay went away after the end of the data) counts as the relay
            # down: the message is sent again later, as MTAs do (RFC 1047). The relay may have kept
            # it (a duplicate) or not (a relay that crashed): taking it as delivered could lose it.
            code, reply = smtp.getreply()
            outcome = outcomes.classify_reply(code, reply)  # the reply stands, whatever the connection does next
        if code != 250:
            self._reset()
        return outcome

    def begin_in_background(self, sender: str, recipient: str, raw: bytes) -> Future:
        """begin() in the relay's own thread, so the caller can commit meanwhile; result() is begin's."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay")
        return self._pool.submit(self.begin, sender, recipient, raw)

    def abandon_begun(self, begun: Future) -> None:
        """The claim failed: wait for begin() to end, then drop what it began."""
        try:
            begun.result()
        except RelayDown:
            pass
        except Exception:  # begin() failed halfway in an unforeseen way: its connection goes too
            log.exception("the relay transaction failed while its claim did not commit")
            self.drop()
        self.abandon()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()  # waits for a begin() still running before the connection goes
            self._pool = None
        self.close()

    def abandon(self) -> None:
        """Drop a transaction begun but not finished: the connection goes, the relay discards it."""
        if self.in_data:
            self.drop()

    @contextlib.contextmanager
    def _down_on_failure(self):
        try:
            yield
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, smtplib.SMTPHeloError,
                smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError, OSError) as exc:
            self.close()
            self.down = outcomes.classify_exception(exc)
            raise RelayDown(self.down) from exc

    def close(self) -> None:
        if self.connection is not None:
            if self.in_data:  # a QUIT now would be read as content: just drop the connection
                self.drop()
                return
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
       are handed to the backlog queue (sending.tasks.enqueue_backlog), behind whatever other
       accounts queued meanwhile, so no group holds a worker for long while others wait. The worker's task
       passes SES_DELIVERY_TURN_SECONDS; None (a caller that is not a worker) delivers the whole group.
    """
    report = DeliveryReport()
    relay = Relay()
    group = _Group()
    visible: dict[str, tuple[list[str], list[str]]] = {}
    # One query for the group; a row's state may change meanwhile, which the conditional claim catches.
    loaded = Message.objects.select_related("domain", "account", "template").in_bulk(list(message_ids))
    # One group for listeners too: e.g. the callback endpoint is looked up once per account, not per message.
    with event_group():
        rest = _deliver_loaded(message_ids, loaded, relay, group, visible, report, turn_seconds)
    report.connections = relay.connections
    if rest:
        report.handed_back = len(rest)
        tasks.enqueue_backlog(rest)  # a group may mix accounts (the sweeper's): never in front of another's next message
    return report


def _deliver_loaded(
    message_ids, loaded, relay: Relay, group: _Group, visible: dict, report: DeliveryReport,
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
                if _claim_or_drop(message, report, group, start=False):
                    with transaction.atomic():  # one commit for the reply and its follow-ups
                        _record_simulated(message, simulated)
                    report.add(simulated.kind)
            else:
                _send(message, relay, visible, report, group)
        return []
    finally:
        relay.shutdown()
        _apply_replies(group)


@dataclass
class _Group:
    """Replies of a group not applied yet.

    `unwritten`: the last reply, written by the same commit as the next message's claim (or at the
    end), so a message costs one commit. Until then that message is the one whose fate a crash
    leaves open: at most one per worker at any instant, as before (SPEC §4.3).
    `replied`: written replies (attempts, code, text, and `outcome` while still sending) whose
    state change, event and counters are applied together at the end of the group by
    recording.record_final_events; a worker that dies first leaves them to the sweeper, which
    applies the recorded reply instead of sending again.
    """

    unwritten: tuple[int, dict] | None = None
    replied: list[tuple[Message, str, dict]] = field(default_factory=list)

    def reply_update(self) -> tuple[QuerySet, dict] | None:
        """The UPDATE that writes the unwritten reply, as (rows, values); None when there is none.

        The reply stays unwritten until `written()` says the statement committed: a statement that
        fails leaves it here, to be written at the end of the group.
        """
        if self.unwritten is None:
            return None
        pk, fields = self.unwritten
        fields = dict(fields)
        # `outcome` marks "replied, not applied" on a sending message only; never over a final one.
        kind = fields.pop("outcome")
        fields["outcome"] = Case(When(status=Message.SENDING, then=Value(kind)), default=F("outcome"))
        return Message.objects.filter(pk=pk), fields

    def written(self) -> None:
        self.unwritten = None

    def write_reply(self) -> None:
        if (reply := self.reply_update()) is not None:
            rows, values = reply
            rows.update(**values)
            self.written()


def _update_together(first: tuple[QuerySet, dict], then: tuple[QuerySet, dict] | None) -> int:
    """Run `first` and `then` (UPDATEs) in one transaction; the rows `first` changed (not PostgreSQL)."""
    if then is None:
        rows, values = first
        return rows.update(**values)
    with transaction.atomic():
        changed = first[0].update(**first[1])
        then[0].update(**then[1])
    return changed


class _Statements:
    """The claim and reply UPDATEs as SQL written once per process (PostgreSQL).

    They run per message, so the ORM's query building (~0.3 ms of Python each time) is done once;
    the conditions are the same as _claim_queryset's and _Group.reply_update's.
    """

    _sql: dict[str, str] = {}

    @classmethod
    def sql(cls, name: str) -> str:
        if not cls._sql:
            qn = connection.ops.quote_name
            message, freeze = qn(Message._meta.db_table), qn(AccountFreeze._meta.db_table)
            where = (
                f"WHERE id = %s AND smtp_started_at IS NULL"
                f" AND (status = %s OR (status = %s AND (next_attempt_at IS NULL OR next_attempt_at <= %s)))"
                f" AND NOT EXISTS (SELECT 1 FROM {freeze} f WHERE f.account_id = {message}.account_id"
                f" AND f.day = %s AND f.lifted_at IS NULL)"
            )
            cls._sql = {
                "claim": f"UPDATE {message} SET status = %s, claimed_at = %s, outcome = '' {where}",
                "claim_start": f"UPDATE {message} SET status = %s, claimed_at = %s, outcome = '', smtp_started_at = %s {where}",
                "reply": (
                    f"UPDATE {message} SET attempts = %s, smtp_code = %s, smtp_reply = %s,"
                    f" outcome = CASE WHEN status = %s THEN %s ELSE outcome END WHERE id = %s"
                ),
            }
        return cls._sql[name]


def _claim_statement(pk: int, now: dt.datetime, *, start: bool) -> tuple[str, list]:
    params = [Message.SENDING, now] + ([now] if start else []) + [
        pk, Message.QUEUED, Message.DEFERRED, now, platform_today(),
    ]
    return _Statements.sql("claim_start" if start else "claim"), params


def _reply_statement(unwritten: tuple[int, dict]) -> tuple[str, list]:
    pk, fields = unwritten
    params = [fields["attempts"], fields["smtp_code"], fields["smtp_reply"], Message.SENDING, fields["outcome"], pk]
    return _Statements.sql("reply"), params


REPLY_RETRY_SHARE = 0.5  # of the claim timeout, counted from smtp_started_at: how long a lost reply is retried


def _apply_replies(group: _Group) -> None:
    # The last reply is committed on its own first: if applying the group fails (a deadlock, a lost
    # connection), every reply is on record and the sweeper applies them instead of sending again.
    # A reply that cannot be written is a message the sweeper sends again (its worker may have died
    # inside SMTP): when the database connection was lost (a PostgreSQL restart), the reply is
    # written on a fresh connection as soon as the server is back, for as long as the sweeper is
    # far from acting on that message (half its claim timeout after its smtp_started_at).
    started = [m.smtp_started_at for m, _, _ in group.replied if m.smtp_started_at is not None]
    retry_for = dt.timedelta(seconds=settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS * REPLY_RETRY_SHARE)
    until = max(started) + retry_for if started else timezone.now()
    _on_a_fresh_connection_if_lost(group.write_reply, until)
    _on_a_fresh_connection_if_lost(lambda: record_final_events(group.replied), until)
    group.replied = []


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


def _claim(message: Message, group: _Group, *, start: bool) -> bool:
    """One conditional UPDATE: queued, or deferred and due, of an account not frozen today → sending.

    With `start`, the same statement (and commit) marks the SMTP transaction as started: the message
    is built before the claim, so the transaction follows it at once (SPEC §4.3, see the module doc).
    The previous message's reply goes in the same commit (see _Group).
    """
    now = timezone.now()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One round trip, one commit: a simple query of two statements runs as one implicit transaction.
        sql, params = _claim_statement(message.pk, now, start=start)
        if group.unwritten is not None:
            reply_sql, reply_params = _reply_statement(group.unwritten)
            sql, params = f"{sql};\n{reply_sql}", params + reply_params
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            claimed = cursor.cursor.rowcount  # the first statement's result comes first
    else:
        claimable = Q(status=Message.QUEUED) | Q(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=Message.DEFERRED
        )
        frozen = AccountFreeze.objects.filter(
            account_id=OuterRef("account_id"), day=platform_today(), lifted_at__isnull=True
        )
        changes = {"status": Message.SENDING, "claimed_at": now, "outcome": ""}
        if start:
            changes["smtp_started_at"] = now
        claimed = _update_together(
            (Message.objects.filter(claimable, ~Exists(frozen), pk=message.pk, smtp_started_at__isnull=True), changes),
            group.reply_update(),
        )
    group.written()  # reached only when the statement, and with it the reply, committed
    if claimed:
        message.status, message.claimed_at = Message.SENDING, now
        if start:
            message.smtp_started_at = now
    return claimed == 1


def _claim_or_drop(message: Message, report: DeliveryReport, group: _Group, *, start: bool) -> bool:
    """Claim the message; if the claim failed because the account is frozen today, drop it (SPEC §3.4)."""
    if _claim(message, group, start=start):
        return True
    if message.account.is_frozen():
        if record_event(message, "dropped", {"reason": "account frozen"}):
            report.add("dropped")
            return False
    report.skipped += 1  # another worker claimed it, or it is final or not due
    return False


def _record_simulated(message: Message, simulated) -> None:
    reply = simulated.reply
    Message.objects.filter(pk=message.pk).update(**_reply_fields(F("attempts") + 1, reply))
    record_event(message, reply.kind, _reply_detail(reply, simulator=True))
    for event in simulated.events:
        detail = {"simulator": True}
        if event == "clicked":
            detail["url"] = SIMULATOR_URL
        record_event(message, event, detail)


def _reply_fields(attempts, reply: outcomes.Outcome) -> dict:
    """The message's columns for a reply: the attempts (a count, or an expression) and the reply, cut to fit."""
    max_length = Message._meta.get_field("smtp_reply").max_length
    return {"attempts": attempts, "smtp_code": reply.code, "smtp_reply": str(reply)[:max_length]}


def _reply_detail(reply: outcomes.Outcome, **extra) -> dict:
    detail = {"reply": str(reply), "code": reply.code, "enhanced": reply.enhanced}
    detail.update(extra)
    return detail


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


def _refuse_no_ascii_form(message: Message, report: DeliveryReport, group: _Group, *, sender: str | None = None) -> None:
    """A recipient, or the sender's From or Reply-To (`sender`), with no ASCII form (an older row: Django
    once admitted `ann@☃.example`) can never be sent (no SMTPUTF8): a final refusal of this message
    alone — the recipient's is an invalid address, recorded like a relay's 5.1.x (an attempt, the
    reply, the blacklist); the sender's a bounce (5.1.7) — with no SMTP transaction; the group goes on."""
    if not _claim_or_drop(message, report, group, start=False):
        return
    if sender is not None:
        reply = outcomes.no_ascii_form(sender, sender=True)
    else:
        reply = outcomes.no_ascii_form(message.recipient)
    record_event(message, reply.kind, _reply_detail(reply), fields=_reply_fields(message.attempts + 1, reply))
    report.add(reply.kind)


def _send(message: Message, relay: Relay, visible: dict, report: DeliveryReport, group: _Group) -> None:
    try:
        # The envelope is ASCII: a non-ASCII domain (a row older than the A-label admission) as its A-label.
        envelope_recipient = addresses.to_ascii(message.recipient)
    except addresses.NotAsciiAddress:
        _refuse_no_ascii_form(message, report, group)
        return
    try:
        envelope_sender = addresses.to_ascii(message.from_email)
    except addresses.NotAsciiAddress:
        _refuse_no_ascii_form(message, report, group, sender=message.from_email)
        return
    if relay.down is not None:
        if _claim_or_drop(message, report, group, start=False):
            _wait_for_relay(message, relay.down)
            report.add("relay_down")
        return
    try:
        if message.bulk:
            # Bulk mail is personal: each recipient of a list sees only their own address.
            raw = build_message(message)
        else:
            to, cc = _visible_recipients(message, visible)
            raw = build_message(message, to=to or None, cc=cc or None) if (to or cc) else build_message(message)
    except addresses.NotAsciiAddress as exc:  # an address header with no ASCII form (an older row's Reply-To)
        _refuse_no_ascii_form(message, report, group, sender=str(exc))  # the address itself
        return
    # The relay is taken up to the end of the data (another thread) while the claim commits here:
    # claimed and marked started in one committed statement before the relay can accept the message
    # (finish). If this worker dies from the commit on, the sweeper leaves the message alone rather
    # than risk sending it twice; if it dies before, the relay discards the unfinished transaction.
    begun = relay.begin_in_background(envelope_sender, envelope_recipient, raw)
    try:
        claimed = _claim_or_drop(message, report, group, start=True)
    except BaseException:
        relay.abandon_begun(begun)
        raise
    if not claimed:
        relay.abandon_begun(begun)
        return
    try:
        refused = begun.result()
        if refused is None and _past_its_claim(message):
            # The sweeper may have sent it again already: the relay discards this transaction.
            log.warning("message %s: its SMTP transaction outlived the claim timeout; left to the sweeper", message.pk)
            relay.abandon()
            report.add("too_late")
            return
        reply = refused if refused is not None else relay.finish()
    except RelayDown as down:
        _wait_for_relay(message, down.outcome)
        report.add("relay_down")
        return
    attempts = message.attempts + 1
    if reply.kind == outcomes.RETRY and attempts > len(settings.SES_RETRY_DELAYS):
        reply = outcomes.give_up(reply)
    reply_fields = _reply_fields(attempts, reply)
    message.attempts, message.smtp_code, message.smtp_reply = attempts, reply.code, reply_fields["smtp_reply"]
    if reply.kind == outcomes.RETRY:
        with transaction.atomic():  # the reply and the deferral: one commit
            Message.objects.filter(pk=message.pk).update(**reply_fields)
            delay = settings.SES_RETRY_DELAYS[attempts - 1]
            _defer(message, timezone.now() + dt.timedelta(seconds=delay), _reply_detail(reply, attempt=attempts))
        report.add("deferred")
        return
    detail = _reply_detail(reply)
    if attempts > 1:
        detail["attempt"] = attempts
    # A final reply: written with the next claim, applied with the group (see _Group).
    group.unwritten = (message.pk, {**reply_fields, "outcome": reply.kind})
    group.replied.append((message, reply.kind, detail))
    report.add(reply.kind)


FINISH_MARGIN = 0.1  # of the claim timeout: the end of the data is never sent closer to it than this


def _past_its_claim(message: Message) -> bool:
    """Whether the message started SMTP so long ago (nearly the sweeper's claim timeout) that the sweeper
    may send it again: then its end of the data must not go, or a live worker would duplicate it."""
    # The relay's reply may take EMAIL_TIMEOUT after the end of the data, and writing it some more:
    # room for both is kept before the claim timeout, as well as the margin.
    claim_timeout = settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS
    limit = min(claim_timeout * (1 - FINISH_MARGIN), claim_timeout - 2 * settings.EMAIL_TIMEOUT)
    return timezone.now() - message.smtp_started_at > dt.timedelta(seconds=limit)


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

    # A reply recorded (`outcome` set while sending) whose worker died before applying it: apply it.
    replied = Message.objects.filter(status=Message.SENDING, smtp_started_at__lt=claim_cutoff).exclude(outcome="")
    applied = 0
    for message in replied.select_related("domain").order_by("id")[:5000]:
        detail = {"reply": message.smtp_reply, "code": message.smtp_code, "recovered": True}
        applied += record_final_events([(message, message.outcome, detail)])

    interrupted = Q(status=Message.SENDING, smtp_started_at__lt=claim_cutoff, outcome="")
    resent = _hand_out(
        Message.objects.filter(interrupted), now, interrupted, status=Message.QUEUED, smtp_started_at=None
    )
    for message in Message.objects.filter(pk__in=resent):
        record_event(message, "retry", {"reason": "the worker died inside the SMTP transaction; sent again"})
    ids += resent

    for start in range(0, len(ids), ENQUEUE_CHUNK):
        tasks.enqueue_backlog(ids[start : start + ENQUEUE_CHUNK])
    summary = f"re-enqueued {len(ids)}, of which {len(resent)} interrupted inside SMTP"
    return f"{summary}; {applied} recorded replies applied" if applied else summary


def _hand_out(candidates, now: dt.datetime, still: Q, **changes) -> list[int]:
    taken = []
    for pk in candidates.order_by("id").values_list("id", flat=True)[:5000]:
        if Message.objects.filter(still, pk=pk).update(claimed_at=now, **changes):
            taken.append(pk)
    return taken
