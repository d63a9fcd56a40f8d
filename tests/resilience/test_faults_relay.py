"""The SMTP relay answers 421 for a while, or is down for a while (SPEC §4.3), with real workers.

A 4xx reply is the recipient's server saying "later": the message is deferred by the next delay of
SES_RETRY_DELAYS, counted as an attempt, and the sweeper hands it out again when it is due. A relay
that cannot be reached is our own infrastructure: the message waits SES_RELAY_RETRY_SECONDS and no
attempt is counted against it. Either way it is delivered once the relay is back, and counted once.
"""

import datetime as dt

from django.db.models import Count

from batches import services
from batches.tests.batch_fixtures import make_list
from domains.models import DomainDay
from sending.models import Message, MessageEvent
from tests.resilience.conftest import (
    SENDER,
    SERVER_ONLY,
    assert_each_recipient_delivered_once,
    describe_batch,
    recover,
    sink_counts,
    start_relay_again,
    wait_until,
    worker_env,
)

pytestmark = SERVER_ONLY

RETRY_DELAYS = [1, 2, 2, 2, 2, 2]
TRY_AGAIN = "421 4.3.2 System not accepting network messages, try again later"


def all_final(messages) -> bool:
    return not messages.exclude(status__in=Message.FINAL).exists()


def test_a_relay_answering_421_for_a_while_is_retried_with_backoff_then_delivered_once(
    account, news_template, smtp_sink, broker, workers, fast_recovery
):
    n = 30
    receiver_list = make_list(account, n)
    for receiver in receiver_list.receivers.all():
        smtp_sink.reply(receiver.email, TRY_AGAIN)
    env = worker_env(broker, smtp_sink, SES_RETRY_DELAYS=",".join(map(str, RETRY_DELAYS)), SES_RELAY_RETRY_SECONDS=1)
    workers.start(env, "worker", concurrency=2)
    task = services.create_task(
        account, from_address=SENDER, receiver_list_id=receiver_list.pk, template_id=news_template.pk
    )
    messages = Message.objects.filter(batch_task=task)

    def refused_twice_each() -> bool:
        per_message = MessageEvent.objects.filter(message__batch_task=task, kind="deferred").values("message")
        return per_message.annotate(n=Count("id")).filter(n__gte=2).count() == n

    try:
        wait_until(refused_twice_each, 90, "every message to be refused twice", every=0.5, between=recover)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {describe_batch(task, smtp_sink)}\n{workers.output}") from None
    assert smtp_sink.received == []
    assert not messages.filter(status__in=Message.FINAL).exists(), "a 421 is never final while retries remain"

    with smtp_sink._lock:
        smtp_sink.rcpt_replies.clear()  # the relay accepts again
    wait_until(lambda: all_final(messages), 90, "every message to be delivered", every=0.5, between=recover)

    assert_each_recipient_delivered_once(messages, smtp_sink, allowed_twice=0)
    for message in messages:
        deferrals = list(MessageEvent.objects.filter(message=message, kind="deferred").order_by("at", "id"))
        # Each 4xx was an attempt; the one that delivered is the last.
        assert message.attempts == len(deferrals) + 1 >= 3
        for number, (event, later) in enumerate(zip(deferrals, [*deferrals[1:], None], strict=True), start=1):
            assert event.detail["attempt"] == number
            due = dt.datetime.fromisoformat(event.detail["next_attempt_at"])
            # Backoff: the delay of this attempt, and the next try not before it was due.
            assert abs((due - event.at).total_seconds() - RETRY_DELAYS[number - 1]) < 1
            tried_again = later.at if later is not None else message.finished_at
            assert tried_again >= due


def test_a_relay_that_is_down_for_a_while_delays_delivery_without_counting_attempts(
    account, news_template, smtp_sink, broker, workers, fast_recovery
):
    n = 100
    receiver_list = make_list(account, n)
    env = worker_env(broker, smtp_sink, SES_BATCH_CHUNK=20, SES_RELAY_RETRY_SECONDS=1)
    workers.start(env, "worker", concurrency=2)
    task = services.create_task(
        account, from_address=SENDER, receiver_list_id=receiver_list.pk, template_id=news_template.pk
    )
    messages = Message.objects.filter(batch_task=task)
    try:
        wait_until(lambda: len(smtp_sink.received) >= n // 5, 60, "a fifth of the batch at the relay")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {describe_batch(task, smtp_sink)}\n{workers.output}") from None

    smtp_sink.stop()
    unreachable = MessageEvent.objects.filter(message__batch_task=task, kind="deferred", detail__relay="unreachable")
    wait_until(lambda: unreachable.count() >= 5, 30, "messages to wait for the relay", between=recover)
    assert len(smtp_sink.received) < n
    start_relay_again(smtp_sink)

    wait_until(lambda: all_final(messages), 90, "every message to be delivered", every=0.5, between=recover)
    assert messages.count() == n
    assert not messages.exclude(status=Message.DELIVERED).exists()
    # The relay's absence was ours, not the recipients': no attempt counted against anyone.
    assert set(messages.values_list("attempts", flat=True)) == {1}
    received = sink_counts(smtp_sink)
    assert set(received) == set(messages.values_list("recipient", flat=True))
    # At most the one message whose 250 the relay had not sent back when it went away reached it twice.
    assert sum(count - 1 for count in received.values()) <= 1, received
    day = DomainDay.objects.get(domain_id=task.domain_id)
    assert (day.sent, day.delivered) == (n, n)
