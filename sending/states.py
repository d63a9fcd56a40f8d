"""A message's state: every write of a Message's status and delivery columns is in this module.

Delivery (sending.delivery, for a group of messages):
    claim             queued, or deferred and due, of an account not frozen today → sending; one
                      conditional UPDATE that also writes the group's previous reply (one commit)
    PendingReplies    a group's replies not applied yet: the last one (unwritten), the written ones
    reply_fields      the columns of a relay's reply: attempts, code, text cut to fit
    write_reply       those columns, at once (a simulated reply, a retry)
    defer             sending → deferred: the SMTP transaction ended without the message accepted
Outcomes (sending.recording.record_event and record_final_events, which add the event, counters, listeners):
    finish            queued/sending/deferred → delivered or bounced; a late bounce of a delivered one
    mark_follow_up    a complaint, open, click or unsubscribe: its time, once
    drop              queued/deferred → dropped
    deliver_together  deliveries of a group: the open rows locked, then one UPDATE
The outbox sweeper (sending.sweeper):
    hand_out          one conditional UPDATE of claimed_at (the "handed out at" mark), maybe back to queued

Each write is a conditional UPDATE whose row count says whether it happened: a message another
worker or sweeper took, or an outcome recorded twice, changes nothing. The order of these writes
and their commits during delivery is what keeps a message from going out twice: docs/delivery.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import AccountFreeze
from core.clock import platform_today
from sending import outcomes
from sending.models import Message

# --- delivery ----------------------------------------------------------------------------------------


@dataclass
class PendingReplies:
    """Replies of a delivery group not applied yet.

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

    def hold(self, message: Message, kind: str, fields: dict, detail: dict) -> None:
        """A final reply (its columns `fields`, its outcome `kind`): written with the next claim, applied with the group."""
        self.unwritten = (message.pk, {**fields, "outcome": kind})
        self.replied.append((message, kind, detail))

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


def claim(message: Message, replies: PendingReplies, *, start: bool) -> bool:
    """One conditional UPDATE: queued, or deferred and due, of an account not frozen today → sending.

    With `start`, the same statement (and commit) marks the SMTP transaction as started: the message
    is built before the claim, so the transaction follows it at once (SPEC §4.3, docs/delivery.md).
    The previous message's reply goes in the same commit (see PendingReplies).
    """
    now = timezone.now()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # One round trip, one commit: a simple query of two statements runs as one implicit transaction.
        sql, params = _claim_statement(message.pk, now, start=start)
        if replies.unwritten is not None:
            reply_sql, reply_params = _reply_statement(replies.unwritten)
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
            replies.reply_update(),
        )
    replies.written()  # reached only when the statement, and with it the reply, committed
    if claimed:
        message.status, message.claimed_at = Message.SENDING, now
        if start:
            message.smtp_started_at = now
    return claimed == 1


def reply_fields(attempts, reply: outcomes.Outcome) -> dict:
    """The message's columns for a reply: the attempts (a count, or an expression) and the reply, cut to fit."""
    max_length = Message._meta.get_field("smtp_reply").max_length
    return {"attempts": attempts, "smtp_code": reply.code, "smtp_reply": str(reply)[:max_length]}


def write_reply(message: Message, fields: dict) -> None:
    """The reply's columns (reply_fields), written now, whatever the message's status."""
    Message.objects.filter(pk=message.pk).update(**fields)


def defer(message: Message, next_attempt_at: dt.datetime) -> None:
    """sending → deferred until `next_attempt_at`, its SMTP transaction and claim cleared.

    Only when the transaction is known to have ended without the message being accepted (a 4xx, a
    relay that is not there), so a new one is safe.
    """
    Message.objects.filter(pk=message.pk, status=Message.SENDING).update(
        status=Message.DEFERRED, next_attempt_at=next_attempt_at, smtp_started_at=None, claimed_at=None
    )


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
    the conditions are the same as claim's ORM form and PendingReplies.reply_update's.
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


# --- outcomes ----------------------------------------------------------------------------------------


def finish(message: Message, kind: str, now: dt.datetime, fields: dict | None = None) -> str | None:
    """A final SMTP outcome (delivered, invalid, spam, bounced), with more columns `fields` in the same UPDATE.

    queued/sending/deferred → delivered or bounced; a bounce of a delivered message moves it to
    bounced (a late bounce). Returns the counter it moves (`kind`, or `late_<kind>`), None when it
    changed nothing (already recorded). The instance follows the row.
    """
    status = Message.DELIVERED if kind == "delivered" else Message.BOUNCED
    changed = Message.objects.filter(
        pk=message.pk, status__in=[Message.QUEUED, Message.SENDING, Message.DEFERRED]
    ).update(status=status, outcome=kind, finished_at=now, **(fields or {}))
    if changed:
        message.status, message.outcome, message.finished_at = status, kind, now
        for name, value in (fields or {}).items():
            setattr(message, name, value)
        return kind
    if kind != "delivered":
        changed = Message.objects.filter(pk=message.pk, status=Message.DELIVERED).update(
            status=Message.BOUNCED, outcome=kind, **(fields or {})
        )
        if changed:
            message.status, message.outcome = Message.BOUNCED, kind
            return f"late_{kind}"
    return None


def mark_follow_up(message: Message, field: str, now: dt.datetime) -> bool:
    """A follow-up's time column (`complained_at`, `opened_at`…) set once: False when it already was."""
    changed = Message.objects.filter(pk=message.pk, **{f"{field}__isnull": True}).update(**{field: now})
    if changed:
        setattr(message, field, now)
    return bool(changed)


def drop(message: Message, outcome: str, now: dt.datetime) -> bool:
    """queued/deferred → dropped, with `outcome` (the reason); False when the message was neither."""
    changed = Message.objects.filter(pk=message.pk, status__in=[Message.QUEUED, Message.DEFERRED]).update(
        status=Message.DROPPED, outcome=outcome, finished_at=now
    )
    if changed:
        message.status, message.outcome, message.finished_at = Message.DROPPED, outcome, now
    return bool(changed)


def deliver_together(messages: dict[int, Message], now: dt.datetime) -> list[int]:
    """Of these messages (by id), those still open → delivered, in one UPDATE; their ids, in order.

    Inside the caller's transaction: the open rows are locked first, so exactly these are the ones
    that change (and that the caller counts). The instances follow the rows.
    """
    open_ids = list(
        Message.objects.select_for_update()
        .filter(pk__in=list(messages), status__in=[Message.QUEUED, Message.SENDING, Message.DEFERRED])
        .order_by("pk").values_list("pk", flat=True)
    )
    if not open_ids:
        return []
    Message.objects.filter(pk__in=open_ids).update(status=Message.DELIVERED, outcome="delivered", finished_at=now)
    for pk in open_ids:
        message = messages[pk]
        message.status, message.outcome, message.finished_at = Message.DELIVERED, "delivered", now
    return open_ids


# --- the outbox sweeper ------------------------------------------------------------------------------


def hand_out(pk: int, now: dt.datetime, still: Q, **changes) -> bool:
    """The sweeper's hand-out of one message: claimed_at = now (the "handed out at" mark while it
    waits), with `changes` (e.g. back to queued), if `still` holds; False when another sweeper took it."""
    return bool(Message.objects.filter(still, pk=pk).update(claimed_at=now, **changes))
