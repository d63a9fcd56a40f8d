"""Celery tasks of notify: thin wrappers around the services.

    deliver_callback         one callback's POST (queue `callbacks`, core/queues.py)
    retry_callbacks          every due callback's POST, within a time budget (queue `callbacks`)
    hand_out_retry_callbacks the periodic job: sends retry_callbacks to the callbacks queue
    warn_domains_near_cap    the periodic job of cap warnings
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


def hand_out_retry_callbacks() -> str:
    """Periodic: the POSTs run on the callbacks queue's workers, never inside the tick, where slow
    receivers would hold a delivery worker (and the other periodic jobs) for up to RETRY_SECONDS.
    Two runs at once are harmless: each attempt claims its row."""
    retry_callbacks.delay()
    return "handed to the callbacks queue"


@shared_task(name="notify.warn_domains_near_cap")
def warn_domains_near_cap() -> str:
    return services.warn_domains_near_cap()
