"""Celery tasks of sending: thin wrappers that take ids and call the domain code.

    deliver          the task: deliver these messages (sending.delivery.deliver_messages)
    enqueue          hand one account's new messages to the delivery queue its fair share allows
    enqueue_backlog  hand messages of any accounts to the backlog queue (the sweeper's hand-outs)
"""

from celery import shared_task
from django.db import transaction

from core import queues


@shared_task(name="sending.deliver", acks_late=True)
def deliver(message_ids: list[int]) -> None:
    from django.conf import settings

    from sending.delivery import deliver_messages

    deliver_messages(message_ids, turn_seconds=settings.SES_DELIVERY_TURN_SECONDS)


def enqueue(message_ids: list[int]) -> None:
    """Hand messages of one account (one send, one batch chunk) to the workers once the rows that
    describe them are committed, on the queue sending.lanes chooses for that account.

    A broker that is down fails the hand-out, never the send: the rows are committed (the outbox),
    the error is logged, and the sweeper enqueues the messages once the broker is back."""
    ids = list(message_ids)
    if ids:
        transaction.on_commit(lambda: _publish(ids, None), robust=True)


def enqueue_backlog(message_ids: list[int]) -> None:
    """As enqueue, for messages of any accounts (lost, or due again): always the backlog queue, where
    they cannot stand in front of any account's next message."""
    ids = list(message_ids)
    if ids:
        transaction.on_commit(lambda: _publish(ids, queues.DELIVERY_BACKLOG), robust=True)


def _publish(ids: list[int], queue: str | None) -> None:
    from sending.lanes import queue_for

    deliver.apply_async((ids,), queue=queue or queue_for(ids[0]))
