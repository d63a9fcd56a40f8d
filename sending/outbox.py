"""Handing messages to the delivery workers. The Message rows are the outbox: a hand-out only tells a
worker which rows to deliver, so one lost to a broker that is down is made again by the sweeper.

    enqueue          hand one account's new messages to the delivery queue its fair share allows
    enqueue_backlog  hand messages of any accounts to the backlog queue (the sweeper's hand-outs)
"""

from __future__ import annotations

from functools import partial

from core import queues
from core.enqueue import enqueue_on_commit
from sending.lanes import queue_for

DELIVER = "sending.deliver"  # the task (sending/tasks.py)


def enqueue(message_ids: list[int]) -> None:
    """Hand messages of one account (one send, one batch chunk) to the workers once the rows that
    describe them are committed, on the queue sending.lanes chooses for that account.

    A broker that is down fails the hand-out, never the send: the rows are committed (the outbox),
    the error is logged, and the sweeper enqueues the messages once the broker is back."""
    ids = list(message_ids)
    if ids:
        enqueue_on_commit(DELIVER, ids, queue=partial(queue_for, ids[0]))


def enqueue_backlog(message_ids: list[int]) -> None:
    """As enqueue, for messages of any accounts (lost, or due again): always the backlog queue, where
    they cannot stand in front of any account's next message."""
    ids = list(message_ids)
    if ids:
        enqueue_on_commit(DELIVER, ids, queue=queues.DELIVERY_BACKLOG)
