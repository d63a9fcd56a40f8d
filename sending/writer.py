"""The one writer of messages: every admission path (SendEmail and the console's test send through
sending.services.send_email, a batch chunk through batches.services.dispatch_chunk; SMTP submission
later) turns its recipients into Message rows here.

    Recipient       one recipient of an admission: address, To/Cc/Bcc, the subject it reads, its data
    write_messages  in the caller's transaction, after its quota reservation: one Message and its
                    "queued" event per recipient, handed to delivery once the transaction commits
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connections
from django.utils import timezone

from accounts.models import Account
from core.clock import platform_today
from core.prepared import execute_prepared
from domains.models import SenderDomain
from domains.reputation.services import mailbox_type_of
from sending import outbox
from sending.models import Message, MessageEvent, SenderAddress, Template


@dataclass(frozen=True)
class Recipient:
    address: str  # as it goes into RCPT TO (the caller cleaned it)
    subject: str  # the subject this recipient reads, its placeholders filled
    data: dict = field(default_factory=dict)  # the template data of this recipient
    kind: str = "to"  # to, cc, bcc


def write_messages(
    *, account: Account, domain: SenderDomain, sender: SenderAddress, from_name: str = "", reply_to: str = "",
    template: Template | None, unsubscribe: int = 0, bulk: bool = False, recipients: Sequence[Recipient],
    request_id: str | None = None, batch_task=None, at: dt.datetime | None = None, hand_out: int | None = None,
) -> list[Message]:
    """One queued Message per recipient, its "queued" event, and their hand-out to delivery after the
    commit; call it inside the transaction that reserved their quota, so a failed write undoes both.

    - from_name: the name given with the send; "" for the sender address's own.
    - request_id: the send's (one SendEmail, one batch chunk); a new one when not given.
    - batch_task: the batch task of a chunk, kept on each message and in its event.
    - at: the time the rows carry (a chunk's start); None: each message its creation time, and the
      events the time they are written.
    - hand_out: at most this many messages per deliver task (a chunk is shared by several workers);
      None: all of them in one, as one SendEmail.
    Every message is counted on the platform day of the reservation (send_day) and keeps the
    mailbox type it was admitted as (domains.reputation.services.mailbox_type_of).
    """
    if not recipients:
        return []
    request_id = request_id or uuid.uuid4().hex
    day = platform_today()
    from_name = from_name or sender.display_name
    created = {} if at is None else {"created_at": at}
    messages = _insert_messages([
        Message(
            account=account, domain=domain, request_id=request_id, from_email=sender.email, from_name=from_name,
            reply_to=reply_to, recipient=r.address, recipient_kind=r.kind, mailbox_type=mailbox_type_of(r.address),
            template=template, subject=r.subject, template_data=r.data, unsubscribe=unsubscribe, bulk=bulk,
            batch_task=batch_task, send_day=day, **created,
        )
        for r in recipients
    ])
    detail = {"request_id": request_id}
    if batch_task is not None:
        detail["batch_task"] = batch_task.pk
    now = at or timezone.now()
    MessageEvent.objects.bulk_create([MessageEvent(message=m, at=now, kind="queued", detail=detail) for m in messages])
    ids = [m.pk for m in messages]
    size = hand_out or len(ids)
    for start in range(0, len(ids), size):
        outbox.enqueue(ids[start : start + size])
    return messages


# At most this many rows go through the prepared INSERT: every SendEmail (50 + 20 + 20 recipients),
# whose few statement shapes repeat; a larger group (a batch chunk, SES_BATCH_CHUNK rows) goes through
# bulk_create, far from the 65,535 parameters one server-side bound statement may carry.
PREPARED_MAX_ROWS = 100


class _MessageInsert:
    """Message.objects.bulk_create(messages) on PostgreSQL, from an INSERT written once per database
    (the same statement and values bulk_create produces; it compiled them again for every send)."""

    def __init__(self):
        self._compiled: dict[str, tuple] = {}

    def _compile(self, alias: str) -> tuple:
        q = connections[alias].ops.quote_name
        meta = Message._meta
        fields = [field for field in meta.concrete_fields if field is not meta.pk]
        head = f"INSERT INTO {q(meta.db_table)} ({', '.join(q(field.column) for field in fields)}) VALUES "
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        return fields, head, row, f" RETURNING {q(meta.db_table)}.{q(meta.pk.column)}"

    def run(self, messages: list[Message]) -> list[Message]:
        alias = Message.objects.db
        connection = connections[alias]
        if connection.vendor != "postgresql" or not messages or len(messages) > PREPARED_MAX_ROWS:
            return Message.objects.bulk_create(messages)
        compiled = self._compiled.get(alias)
        if compiled is None:
            compiled = self._compiled.setdefault(alias, self._compile(alias))
        fields, head, row, returning = compiled
        params = []
        for message in messages:
            message._prepare_related_fields_for_save(operation_name="bulk_create")
            params += [field.get_db_prep_save(field.pre_save(message, True), connection) for field in fields]
        ids = [pk for (pk,) in execute_prepared(alias, head + ", ".join([row] * len(messages)) + returning, params)]
        for message, pk in zip(messages, ids, strict=True):  # PostgreSQL returns them in VALUES order
            message.pk = pk
            message._state.adding = False
            message._state.db = alias
        return messages


_message_insert = _MessageInsert()


def _insert_messages(messages: list[Message]) -> list[Message]:
    return _message_insert.run(messages)
