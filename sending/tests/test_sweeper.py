"""The outbox sweeper: lost messages are re-enqueued, and none is ever sent twice (SPEC §4.3)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from domains.models import DomainDay
from sending.delivery import deliver_messages
from sending.models import Message
from sending.sweeper import sweep_stale_messages
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send
from sesconsole.celery import app


@pytest.fixture
def eager_worker():
    """Tasks handed to the broker run at once, in this process, through the real task."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def message(sender, template, account):  # noqa: F811
    [message] = send(account, template, "ann@example.org")
    return message


def age(message: Message, **fields_ago) -> None:
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        **{field: now - dt.timedelta(minutes=minutes) for field, minutes in fields_ago.items()}
    )


def sweep(django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        return sweep_stale_messages()


def test_a_message_the_broker_lost_is_sent_by_the_sweeper(
    smtp_sink, message, eager_worker, django_capture_on_commit_callbacks, verified_domain
):
    age(message, created_at=10)

    summary = sweep(django_capture_on_commit_callbacks)

    assert summary.startswith("re-enqueued 1")
    assert [r.rcpt_tos for r in smtp_sink.received] == [("ann@example.org",)]
    message.refresh_from_db()
    assert message.status == Message.DELIVERED
    assert DomainDay.objects.get(domain=verified_domain).delivered == 1


def test_a_fresh_queued_message_is_left_to_its_own_task(smtp_sink, message, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert sweep_stale_messages().startswith("re-enqueued 0")

    assert callbacks == []


def test_a_message_is_re_enqueued_once_however_many_sweepers_run(
    smtp_sink, message, django_capture_on_commit_callbacks
):
    age(message, created_at=10)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = sweep_stale_messages()
        second = sweep_stale_messages()

    assert first.startswith("re-enqueued 1") and second.startswith("re-enqueued 0")
    assert len(callbacks) == 1


def test_a_message_whose_worker_died_before_smtp_is_sent_again(
    smtp_sink, message, eager_worker, django_capture_on_commit_callbacks
):
    Message.objects.filter(pk=message.pk).update(status=Message.SENDING)
    age(message, created_at=30, claimed_at=20)

    sweep(django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == Message.DELIVERED
    assert len(smtp_sink.received) == 1


def test_a_message_inside_its_smtp_transaction_is_left_alone_while_its_worker_may_still_live(
    smtp_sink, message, eager_worker, django_capture_on_commit_callbacks
):
    Message.objects.filter(pk=message.pk).update(status=Message.SENDING)
    age(message, created_at=30, claimed_at=5, smtp_started_at=5)  # 5 minutes: under the claim timeout

    assert sweep(django_capture_on_commit_callbacks).startswith("re-enqueued 0")
    deliver_messages([message.pk])  # a duplicate task from the broker does not send it either

    message.refresh_from_db()
    assert message.status == Message.SENDING
    assert smtp_sink.received == []


def test_a_message_whose_worker_died_inside_smtp_is_sent_again_and_counted_once(
    smtp_sink, message, eager_worker, django_capture_on_commit_callbacks, verified_domain
):
    Message.objects.filter(pk=message.pk).update(status=Message.SENDING)
    age(message, created_at=30, claimed_at=20, smtp_started_at=20)  # no live transaction is that old

    summary = sweep(django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert summary == "re-enqueued 1, of which 1 interrupted inside SMTP"
    assert message.status == Message.DELIVERED
    assert len(smtp_sink.received) == 1  # the one case where the relay may now have it twice
    assert "retry" in list(message.events.values_list("kind", flat=True))
    assert DomainDay.objects.get(domain=verified_domain).delivered == 1
    assert sweep(django_capture_on_commit_callbacks).startswith("re-enqueued 0")


def test_a_deferred_message_is_retried_when_due_and_not_before(
    smtp_sink, message, eager_worker, django_capture_on_commit_callbacks
):
    from tests.smtpsink import MAILBOX_FULL

    smtp_sink.reply("ann", MAILBOX_FULL)
    deliver_messages([message.pk])
    message.refresh_from_db()
    assert message.status == Message.DEFERRED

    smtp_sink.rcpt_replies.clear()
    assert sweep(django_capture_on_commit_callbacks).startswith("re-enqueued 0")  # not due yet
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert sweep(django_capture_on_commit_callbacks).startswith("re-enqueued 1")

    message.refresh_from_db()
    assert message.status == Message.DELIVERED
    assert len(smtp_sink.received) == 1


def test_the_sweeper_runs_under_tick(smtp_sink, message, eager_worker, django_capture_on_commit_callbacks):
    from ops import periodic

    age(message, created_at=10)

    with django_capture_on_commit_callbacks(execute=True):
        result = periodic.run_job(periodic.job_named("sweep_stale_messages"))

    assert result.ok and result.summary.startswith("re-enqueued 1")
    message.refresh_from_db()
    assert message.status == Message.DELIVERED
