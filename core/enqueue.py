"""Handing work to the Celery workers by task name, so that services never import a tasks module
(tasks import services, never the reverse).

    enqueue_on_commit(task_name, *args, queue=None)  publish once the current transaction commits
                                                     (at once outside one); a failure is logged, never raised
    publish(task_name, *args, queue=None)            publish now; a broker that is down raises

`queue`: None lets the task's route decide (core.queues.ROUTES); a queue name sends it there; a
callable is asked for the name when the task is published, after the commit, so it may count rows
the transaction wrote (sending.lanes.queue_for, notify.services.callback_queue_for).

Only for work whose rows are the source of truth: a hand-out lost to a broker that is down is
handed out again by the work's periodic job (the outbox sweeper, redispatch_stalled_tasks,
retry_callbacks, requeue_stalled_imports).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import current_app
from django.db import transaction

log = logging.getLogger(__name__)

Queue = str | Callable[[], str] | None


def enqueue_on_commit(task_name: str, *args, queue: Queue = None) -> None:
    """Publish `task_name(*args)` once the rows the transaction wrote are committed (discarded with
    a rollback). A broker that is down fails the hand-out, never the transaction: logged."""

    def hand_out() -> None:
        try:
            publish(task_name, *args, queue=queue)
        except Exception:
            log.exception("could not enqueue %s %r; its periodic job hands the work out again", task_name, args)

    transaction.on_commit(hand_out)


def publish(task_name: str, *args, queue: Queue = None) -> None:
    """Send `task_name(*args)` to the broker now (in eager mode, run it here: the demo, tests)."""
    task = _registered(task_name)
    queue = queue() if callable(queue) else queue
    if queue is None:
        task.delay(*args)
    else:
        task.apply_async(args, queue=queue)


def _registered(task_name: str):
    """The task of that name, through Celery's registry rather than an import of its module. A
    process that has not imported the tasks modules yet (a web server) imports them once, by
    Celery's autodiscovery of the installed apps, as a worker does when it starts. (By the task
    object rather than send_task, which ignores eager mode and the task's own options.)"""
    app = current_app
    if task_name not in app.tasks:
        app.autodiscover_tasks(force=True)
    return app.tasks[task_name]
