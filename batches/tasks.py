"""Celery tasks of batches: thin wrappers that take ids and call batches.services."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="batches.dispatch", acks_late=True, ignore_result=True)
def dispatch(task_id: int) -> str:
    """One chunk of a batch task; the service enqueues the next chunk after its commit."""
    from batches.services import dispatch_chunk

    result = dispatch_chunk(task_id)
    if result == "gone":
        log.info("batch task %s is gone; nothing to dispatch", task_id)
    return result
