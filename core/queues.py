"""The Celery queues, which task goes to which, and which queues each kind of worker consumes.

The one place for queue names (docs/architecture.md, "Queues"): settings.py takes ROUTES as
CELERY_TASK_ROUTES, `bin/dev start` and the tests start their workers with WORKERS, and the README
shows the same commands. Importable without Django, so that

    python -m core.queues ROLE      prints ROLE's queues for `celery worker -Q`

Work that may be slow or large never sits in a queue in front of the next message: callbacks (a
customer's receiver may hang) and list imports (a large file) go to the "background" worker;
delivery, batch dispatch and the periodic tick to the "delivery" worker. An account's delivery work
beyond its fair share goes to DELIVERY_BACKLOG (sending.lanes), which a worker takes turns with
DELIVERY, so one account's backlog never stands in front of another account's next message; the
callbacks of an account with many pending (its receiver is slow or down) likewise go to
CALLBACKS_BACKLOG (notify.services.callback_queue_for).
"""

from __future__ import annotations

import sys

DELIVERY = "delivery"  # sending.deliver: an account's messages within its fair share
DELIVERY_BACKLOG = "delivery_backlog"  # sending.deliver beyond it, and the sweeper's hand-outs
DISPATCH = "dispatch"  # batches.dispatch: a batch task's next chunk becomes messages
CALLBACKS = "callbacks"  # notify.deliver_callback, notify.retry_callbacks: POSTs to customers' receivers
CALLBACKS_BACKLOG = "callbacks_backlog"  # notify.deliver_callback of an account with many callbacks pending
IMPORTS = "imports"  # batches.import_list: recipient list uploads
PERIODIC = "periodic"  # sesconsole.tick, and any task without a route (CELERY_TASK_DEFAULT_QUEUE)

ROUTES = {
    "sending.deliver": {"queue": DELIVERY},  # sending.lanes picks DELIVERY or DELIVERY_BACKLOG per hand-out
    "batches.dispatch": {"queue": DISPATCH},
    "notify.deliver_callback": {"queue": CALLBACKS},
    "notify.retry_callbacks": {"queue": CALLBACKS},
    "batches.import_list": {"queue": IMPORTS},
    "sesconsole.tick": {"queue": PERIODIC},
}
DEFAULT = PERIODIC

# The workers of an installation, by role. Each role needs at least one worker; any number may run.
WORKERS = {
    "delivery": [DELIVERY, DELIVERY_BACKLOG, DISPATCH, PERIODIC],
    # I/O-bound and allowed to be slow (a receiver may answer only at its timeout): a thread pool.
    "background": [CALLBACKS, CALLBACKS_BACKLOG, IMPORTS],
}
ALL = [queue for queues in WORKERS.values() for queue in queues]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {*WORKERS, "all"}:
        print(f"usage: python -m core.queues {{{','.join([*WORKERS, 'all'])}}}", file=sys.stderr)
        return 2
    print(",".join(ALL if argv[0] == "all" else WORKERS[argv[0]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
