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


def resume_paused_batches() -> str:
    """Periodic: paused tasks whose 24 hours are over, and sending tasks whose dispatch was lost."""
    from batches.services import redispatch_stalled_tasks, resume_due_tasks

    return f"resumed {resume_due_tasks()}, re-dispatched {redispatch_stalled_tasks()}"


def start_timed_batches() -> str:
    """Periodic: timed tasks and recurring rounds whose time has come."""
    from batches.services import start_due_tasks

    return f"started {start_due_tasks()}"
