"""The broker (Redis) crashes and comes back, during a batch and during single sends (SPEC §4.3, §8).

The broker here is a private redis-server that saves nothing: killing it loses every task it held,
queued or taken by a worker and not yet acknowledged. Nothing of that may be lost for good: a
message is a committed row (the outbox) before it is handed to the broker, a hand-out that fails
never fails the send, and the sweeper hands out again what the broker lost. Nothing is sent twice:
the database, not the broker, says whether a message went out.
"""

import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

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
    send_email,
    wait_until,
    worker_env,
)

pytestmark = SERVER_ONLY

RECIPIENTS = 200
OUTAGE_SECONDS = 3


def test_a_broker_crash_mid_batch_loses_no_message_and_sends_none_twice(
    account, news_template, smtp_sink, broker, workers, fast_recovery
):
    receiver_list = make_list(account, RECIPIENTS)
    workers.start(worker_env(broker, smtp_sink, SES_BATCH_CHUNK=20), "worker", concurrency=2)
    task = services.create_task(
        account, from_address=SENDER, receiver_list_id=receiver_list.pk, template_id=news_template.pk
    )
    try:
        wait_until(lambda: len(smtp_sink.received) >= RECIPIENTS // 4, 60, "a quarter of the batch at the relay")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {describe_batch(task, smtp_sink)}\n{workers.output}") from None

    broker.stop()
    at_crash = len(smtp_sink.received)
    time.sleep(OUTAGE_SECONDS)  # the worker finishes what it holds; its next hand-outs fail
    task.refresh_from_db()
    assert task.status == BatchTask.SENDING and len(smtp_sink.received) < RECIPIENTS, "the crash came too late"
    broker.start()  # empty: every task the old one held is gone

    try:
        wait_until(lambda: batch_finished(task), 120, "the batch to finish", every=0.5, between=lambda: recover(workers))
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {describe_batch(task, smtp_sink)}\n{workers.output}") from None
    print(f"broker crashed at {at_crash} of {RECIPIENTS} received; workers restarted: {workers.restarts}")
    messages = Message.objects.filter(batch_task=task)
    assert (task.send_count, task.cache_count, messages.count()) == (RECIPIENTS, 0, RECIPIENTS)
    # No worker died: no message was inside an SMTP transaction that nobody finished.
    assert_each_recipient_delivered_once(messages, smtp_sink, allowed_twice=0)


def test_single_sends_while_the_broker_is_down_are_accepted_at_once_and_delivered_once(
    account, news_template, smtp_sink, broker, workers, ses, fast_recovery
):
    workers.start(worker_env(broker, smtp_sink), "worker", concurrency=2)
    accepted: dict[str, str] = {}  # recipient → MessageId
    slowest_while_down = 0.0

    def send(i: int) -> float:
        to = f"single{i}@inbox.example"
        started = time.monotonic()
        accepted[to] = send_email(ses, news_template, to)  # raises TencentCloudSDKException on an error
        return time.monotonic() - started

    for i in range(10):
        send(i)
    broker.stop()
    try:
        for i in range(10, 20):
            # The row is committed before the hand-out: the send is accepted although the broker is down.
            slowest_while_down = max(slowest_while_down, send(i))
    except TencentCloudSDKException as exc:
        raise AssertionError(f"a send while the broker was down failed: {exc}") from None
    broker.start()
    for i in range(20, 30):
        send(i)

    messages = Message.objects.filter(account=account)
    try:
        wait_until(
            lambda: not messages.exclude(status__in=Message.FINAL).exists(), 90,
            "every accepted message to be delivered", every=0.5, between=lambda: recover(workers),
        )
    except AssertionError as exc:
        waiting = list(messages.exclude(status__in=Message.FINAL).values_list("recipient", "status", "claimed_at"))
        raise AssertionError(f"{exc}: {waiting}\n{workers.output}") from None
    assert dict(messages.values_list("recipient", "message_id")) == accepted
    assert_each_recipient_delivered_once(messages, smtp_sink, allowed_twice=0)
    # No send hung: one that outlasts the SDK's request timeout raised above. Speed is bench/'s job.
    print(f"slowest send while the broker was down: {slowest_while_down:.2f}s; workers restarted: {workers.restarts}")


def test_a_send_while_the_broker_hangs_is_accepted_within_the_broker_timeouts(
    account, news_template, smtp_sink, broker, ses, fast_recovery, workers
):
    from sesconsole.celery import app

    if "socket_timeout" not in (app.conf.broker_transport_options or {}):
        pytest.skip("the broker timeouts are those of a Redis broker (set CELERY_BROKER_URL=redis://…)")
    broker.freeze()  # connections open, but no answer ever comes
    try:
        started = time.monotonic()
        message_id = send_email(ses, news_template, "patient@inbox.example")
        seconds = time.monotonic() - started
    finally:
        broker.thaw()
    # Accepted (the row is the outbox), after the publish gave up. A hang would have outlasted the
    # SDK's request timeout and raised in send_email; how long it took is bench/'s business.
    print(f"a send while the broker hung took {seconds:.1f}s")
    message = Message.objects.get(message_id=message_id)
    assert message.status == Message.QUEUED

    workers.start(worker_env(broker, smtp_sink), "worker", concurrency=1)
    wait_until(lambda: Message.objects.filter(pk=message.pk, status=Message.DELIVERED).exists(), 60,
               "the sweeper to hand the message out again", every=0.5, between=lambda: recover(workers))
    assert_each_recipient_delivered_once(Message.objects.filter(pk=message.pk), smtp_sink, allowed_twice=0)
