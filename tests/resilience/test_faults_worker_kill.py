"""Crash safety of batch dispatch (issue 4, issue 6): real workers killed with SIGKILL in the middle
of a batch lose no recipient, and after recovery each recipient has exactly one message, delivered.

Why it holds: a chunk's messages and the task's cursor commit together (a killed chunk rolls back
and is redone); delivery commits smtp_started_at before each SMTP transaction and never re-sends
such a message until its claim has timed out (a live worker would long have finished it); then it is
sent again, so the only recipients that may reach the relay twice are the ones inside an SMTP
transaction at the instant of the kill — at most one per pool process killed (SPEC §4.3).
"""

import time

from batches import services
from batches.models import BatchTask
from batches.tests.batch_fixtures import make_list
from sending.models import Message
from tests.resilience.conftest import (
    SENDER,
    SERVER_ONLY,
    assert_each_recipient_delivered_once,
    batch_finished,
    describe_batch,
    recover,
    wait_until,
    worker_env,
)

pytestmark = SERVER_ONLY

# Enough chunks that dispatch is still going on at the second kill, however fast delivery is.
RECIPIENTS = 600
CHUNK = 20


def test_two_workers_killed_mid_batch_lose_no_recipient_and_send_each_once(
    account, news_template, smtp_sink, broker, workers, fast_recovery
):
    receiver_list = make_list(account, RECIPIENTS)
    env = worker_env(broker, smtp_sink, SES_BATCH_CHUNK=CHUNK)
    first = workers.start(env, "first", concurrency=2)
    second = workers.start(env, "second", concurrency=2)
    started = time.monotonic()
    task = services.create_task(
        account, from_address=SENDER, receiver_list_id=receiver_list.pk, template_id=news_template.pk
    )

    def until_received(n: int, what: str) -> None:
        try:
            # The periodic jobs run all along: a killed worker may have held the next dispatch.
            wait_until(lambda: len(smtp_sink.received) >= n, 60, what, between=recover)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {describe_batch(task, smtp_sink)}\n{workers.output}") from None

    # Two kills at different moments, each while both chunks and deliveries are in flight.
    until_received(RECIPIENTS // 15, "the first of the batch at the relay")
    first.kill()
    at_first_kill = len(smtp_sink.received)
    until_received(at_first_kill + RECIPIENTS // 15, "the second worker to go on")
    second.kill()
    at_second_kill = len(smtp_sink.received)
    print(f"killed after {time.monotonic() - started:.1f}s at {at_first_kill} and {at_second_kill} received")
    task.refresh_from_db()
    assert task.status == BatchTask.SENDING and task.send_count < RECIPIENTS, "the kills came too late to prove anything"
    assert at_second_kill < RECIPIENTS

    # A fresh worker, and the periodic jobs: the sweeper hands out what the dead workers held (after
    # the claim timeout), the stalled task is dispatched again.
    workers.start(env, "third", concurrency=2)
    try:
        wait_until(lambda: batch_finished(task), 120, "the third worker to finish the batch", every=0.5, between=recover)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {describe_batch(task, smtp_sink)}\n{workers.output}") from None

    messages = Message.objects.filter(batch_task=task)
    assert (task.send_count, task.cache_count, task.skipped_count) == (RECIPIENTS, 0, 0)
    assert messages.count() == RECIPIENTS
    killed_pool_processes = first.concurrency + second.concurrency
    twice = assert_each_recipient_delivered_once(messages, smtp_sink, allowed_twice=killed_pool_processes)
    print(f"recipients sent twice after recovery: {len(twice)} (at most {killed_pool_processes})")
