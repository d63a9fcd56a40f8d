"""Celery tasks of sending: thin wrappers that take ids and call the domain code."""

from celery import shared_task
from django.db import transaction


@shared_task(name="sending.deliver", acks_late=True)
def deliver(message_ids: list[int]) -> None:
    from sending.delivery import deliver_messages

    deliver_messages(message_ids)


def enqueue(message_ids: list[int]) -> None:
    """Hand messages to the workers once the rows that describe them are committed.

    A broker that is down fails the hand-out, never the send: the rows are committed (the outbox),
    the error is logged, and the sweeper enqueues the messages once the broker is back."""
    ids = list(message_ids)
    if ids:
        transaction.on_commit(lambda: deliver.delay(ids), robust=True)
