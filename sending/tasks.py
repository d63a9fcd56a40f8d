"""Celery tasks of sending: thin wrappers that take ids and call the domain code."""

from celery import shared_task
from django.db import transaction


@shared_task(name="sending.deliver", acks_late=True)
def deliver(message_ids: list[int]) -> None:
    from sending.delivery import deliver_messages

    deliver_messages(message_ids)


def enqueue(message_ids: list[int]) -> None:
    """Hand messages to the workers once the rows that describe them are committed."""
    ids = list(message_ids)
    if ids:
        transaction.on_commit(lambda: deliver.delay(ids))
