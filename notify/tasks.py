"""Celery tasks of notify: thin wrappers around the services.

    deliver_callback  one callback's POST (queue `callbacks`, core/queues.py)
    retry_callbacks   every due callback's POST, within a time budget (queue `callbacks`), handed
                      out by the periodic job `retry_callbacks` (services.hand_out_retry_callbacks)
"""

from celery import shared_task

from notify import services


@shared_task(name="notify.deliver_callback", ignore_result=True)
def deliver_callback(delivery_id: int) -> None:
    # Not due (already sent, or held by another worker) is a quiet no-op: the row decides.
    services.attempt_delivery(delivery_id)


@shared_task(name="notify.retry_callbacks")
def retry_callbacks() -> str:
    return services.retry_due_callbacks()
