"""Timed and recurring tasks start on time; a freeze fails what is unsent; a cancel stops a task."""

import datetime as dt

import pytest
import time_machine

from batches import services
from batches.models import BatchTask
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import drain, make_list, new_task
from core.clock import platform_today
from domains.reputation.services import check_freeze
from sending.models import Message, MessageEvent
from sending.tests.send_fixtures import set_sent

pytestmark = pytest.mark.django_db

sender = batch_fixtures.sender
template = batch_fixtures.template

T0 = dt.datetime(2031, 3, 10, 9, 30, tzinfo=dt.UTC)


def test_a_timed_task_starts_at_its_begin_time_and_not_before(account, sender, template):
    begin = T0 + dt.timedelta(hours=3)
    with time_machine.travel(T0, tick=False):
        task = new_task(account, make_list(account, 5), template, task_type=BatchTask.TIMED, begin_time=begin)
    with time_machine.travel(begin - dt.timedelta(seconds=1), tick=False):
        assert services.start_due_tasks() == 0
    with time_machine.travel(begin, tick=False):
        assert services.start_due_tasks() == 1
        task.refresh_from_db()
        assert (task.status, task.started_at) == (BatchTask.SENDING, begin)
        assert drain(task) == services.DONE
    assert task.send_count == 5


def test_a_recurring_task_sends_the_whole_list_every_interval(account, sender, template):
    begin = T0 + dt.timedelta(hours=1)
    with time_machine.travel(T0, tick=False):
        schedule = new_task(account, make_list(account, 4), template, task_type=BatchTask.RECURRING,
                            begin_time=begin, interval_hours=6)
        assert services.start_due_tasks() == 0
    with time_machine.travel(begin, tick=False):
        assert services.start_due_tasks() == 1
        assert services.start_due_tasks() == 0  # a second tick in the same minute starts nothing
        [first] = schedule.runs.all()
        assert (first.status, first.request_count, first.begin_time) == (BatchTask.SENDING, 4, begin)
        drain(first)
    schedule.refresh_from_db()
    assert schedule.status == BatchTask.PENDING and schedule.next_run_at == begin + dt.timedelta(hours=6)
    with time_machine.travel(begin + dt.timedelta(hours=5, minutes=59), tick=False):
        assert services.start_due_tasks() == 0
    with time_machine.travel(begin + dt.timedelta(hours=6), tick=False):
        assert services.start_due_tasks() == 1
        second = schedule.runs.exclude(pk=first.pk).get()
        drain(second)
    assert (first.send_count, second.send_count) == (4, 4)
    assert Message.objects.filter(batch_task__parent=schedule).count() == 8


def test_a_freeze_mid_batch_fails_everything_not_yet_sent(account, sender, template, settings):
    settings.SES_BATCH_CHUNK = 50
    task = new_task(account, make_list(account, 200), template)
    for _ in range(2):
        assert services.dispatch_chunk(task.pk) == services.MORE
    # One of the hundred queued messages is already in its SMTP transaction: it is not dropped.
    in_smtp = Message.objects.filter(batch_task=task).order_by("id").first()
    Message.objects.filter(pk=in_smtp.pk).update(status=Message.SENDING, smtp_started_at=in_smtp.created_at)

    set_sent(sender.domain, 400, invalid=50)  # F1: sent > 300 and invalid > 11%
    freeze = check_freeze(account.pk, platform_today())
    assert freeze is not None

    task.refresh_from_db()
    assert task.status == BatchTask.FAILED
    assert "frozen" in task.err_msg and "F1" in task.err_msg
    assert (task.send_count, task.cache_count, task.failed_count) == (100, 0, 100 + 99)
    assert Message.objects.filter(batch_task=task, status=Message.DROPPED, outcome="account frozen").count() == 99
    assert MessageEvent.objects.filter(message__batch_task=task, kind="dropped").count() == 99
    assert Message.objects.get(pk=in_smtp.pk).status == Message.SENDING
    assert services.dispatch_chunk(task.pk) == services.IDLE
    assert Message.objects.filter(batch_task=task).count() == 100


def test_a_paused_task_fails_too_when_the_account_is_frozen(account, sender, template):
    task = new_task(account, make_list(account, 600), template)
    drain(task)
    assert task.status == BatchTask.PAUSED
    set_sent(sender.domain, 500, invalid=100)
    check_freeze(account.pk, platform_today())
    task.refresh_from_db()
    assert (task.status, task.cache_count, task.failed_count, task.resume_at) == (BatchTask.FAILED, 0, 600, None)


def test_a_cancelled_task_drops_its_queued_messages_and_sends_no_more(account, owner, sender, template, settings):
    settings.SES_BATCH_CHUNK = 10
    task = new_task(account, make_list(account, 40), template)
    services.dispatch_chunk(task.pk)
    task = services.cancel_task(task, owner)
    assert task.status == BatchTask.CANCELLED and "alice@example.com" in task.err_msg
    assert (task.send_count, task.cache_count, task.failed_count) == (10, 0, 40)
    assert set(Message.objects.filter(batch_task=task).values_list("status", flat=True)) == {Message.DROPPED}
    assert services.dispatch_chunk(task.pk) == services.IDLE
    with pytest.raises(services.BatchError):
        services.cancel_task(task, owner)


def test_a_cancelled_schedule_starts_no_more_rounds(account, owner, sender, template):
    with time_machine.travel(T0, tick=False):
        schedule = new_task(account, make_list(account, 3), template, task_type=BatchTask.RECURRING,
                            begin_time=T0 + dt.timedelta(hours=1), interval_hours=1)
        services.cancel_task(schedule, owner)
    with time_machine.travel(T0 + dt.timedelta(hours=2), tick=False):
        assert services.start_due_tasks() == 0
    assert not schedule.runs.exists()


def test_a_lost_dispatch_is_handed_out_again_after_the_stall_period(account, sender, template, settings):
    settings.SES_BATCH_STALL_SECONDS = 300
    with time_machine.travel(T0, tick=False):
        new_task(account, make_list(account, 3), template)
    with time_machine.travel(T0 + dt.timedelta(seconds=299), tick=False):
        assert services.redispatch_stalled_tasks() == 0
    with time_machine.travel(T0 + dt.timedelta(seconds=301), tick=False):
        assert services.redispatch_stalled_tasks() == 1
        assert services.redispatch_stalled_tasks() == 0
