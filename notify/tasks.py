"""Celery tasks of notify: thin wrappers around the services."""

from celery import shared_task

from notify import services


@shared_task(name="notify.deliver_callback", ignore_result=True)
def deliver_callback(delivery_id: int) -> None:
    # Not due (already sent, or held by another worker) is a quiet no-op: the row decides.
    services.attempt_delivery(delivery_id)


@shared_task(name="notify.retry_callbacks")
def retry_callbacks() -> str:
    return services.retry_due_callbacks()


@shared_task(name="notify.warn_domains_near_cap")
def warn_domains_near_cap() -> str:
    return services.warn_domains_near_cap()
