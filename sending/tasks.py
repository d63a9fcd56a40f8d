"""Celery tasks of sending: thin wrappers that take ids and call the domain code.

    deliver  the task: deliver these messages (sending.delivery.deliver_messages); services hand
             messages to it through sending.outbox (enqueue, enqueue_backlog)
"""

from celery import shared_task


@shared_task(name="sending.deliver", acks_late=True)
def deliver(message_ids: list[int]) -> None:
    from django.conf import settings

    from sending.delivery import deliver_messages

    deliver_messages(message_ids, turn_seconds=settings.SES_DELIVERY_TURN_SECONDS)
