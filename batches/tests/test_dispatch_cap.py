"""Dispatch at the cap (SPEC §3.5): a batch pauses exactly at the cap, resumes by itself 24 hours
after the pause, and pauses again when it meets the cap again. Nothing is delivered in these tests,
so the delivery rate stays 0 and the level-1 domain cannot upgrade its way past the cap."""

import datetime as dt

import pytest
import time_machine

from batches import services
from batches.models import BatchTask
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import drain, make_list, new_task
from domains.models import DomainDay
from notify.models import Notification
from sending.models import Message, MessageEvent, Suppression

pytestmark = pytest.mark.django_db

sender = batch_fixtures.sender
template = batch_fixtures.template

T0 = dt.datetime(2031, 3, 10, 9, 30, tzinfo=dt.UTC)


def test_a_batch_pauses_exactly_at_the_cap_with_the_rest_waiting(account, sender, template):
    with time_machine.travel(T0, tick=False):
        task = new_task(account, make_list(account, 600), template)
        assert drain(task) == services.PAUSED
        assert task.status == BatchTask.PAUSED
        assert (task.send_count, task.cache_count, task.skipped_count) == (500, 100, 0)
        assert task.paused_at == T0 and task.resume_at == T0 + dt.timedelta(hours=24)
        assert task.pause_reason == "mail.alice.example reached its daily cap of 500"
        assert DomainDay.objects.get(domain=sender.domain).sent == 500
        messages = Message.objects.filter(batch_task=task)
        assert messages.count() == 500 and set(messages.values_list("status", flat=True)) == {Message.QUEUED}
        assert MessageEvent.objects.filter(message__batch_task=task, kind="queued").count() == 500
        first = messages.get(recipient="user0@inbox.example")
        assert first.subject == "Welcome, N0" and first.bulk and first.template_data == {"name": "N0", "code": "0"}
        # Another dispatch of the paused task sends nothing and tells nobody twice.
        assert services.dispatch_chunk(task.pk) == services.IDLE
    assert Notification.objects.filter(account=account, cause="batch_paused").count() == 1


def test_it_resumes_24_hours_after_the_pause_and_pauses_again_at_the_next_cap(account, sender, template):
    with time_machine.travel(T0, tick=False):
        task = new_task(account, make_list(account, 1200), template)
        drain(task)
        assert (task.status, task.send_count, task.cache_count) == (BatchTask.PAUSED, 500, 700)

    with time_machine.travel(T0 + dt.timedelta(hours=23, minutes=59), tick=False):
        assert services.resume_due_tasks() == 0
        task.refresh_from_db()
        assert task.status == BatchTask.PAUSED

    second_pause = T0 + dt.timedelta(hours=24)
    with time_machine.travel(second_pause, tick=False):
        assert services.resume_due_tasks() == 1
        task.refresh_from_db()
        assert task.status == BatchTask.SENDING
        assert drain(task) == services.PAUSED
        assert (task.status, task.send_count, task.cache_count) == (BatchTask.PAUSED, 1000, 200)
        assert task.paused_at == second_pause and task.resume_at == second_pause + dt.timedelta(hours=24)

    with time_machine.travel(second_pause + dt.timedelta(hours=24), tick=False):
        assert services.resume_due_tasks() == 1
        assert drain(task) == services.DONE
        assert (task.status, task.send_count, task.cache_count) == (BatchTask.DONE, 1200, 0)
        assert task.finished_at == second_pause + dt.timedelta(hours=24)
    assert Message.objects.filter(batch_task=task).count() == 1200
    assert Message.objects.filter(batch_task=task).values("recipient").distinct().count() == 1200


def test_suppressed_and_unsubscribed_recipients_are_skipped_and_counted(account, sender, template):
    lst = make_list(account, 10)
    Suppression.objects.create(account=account, email="user3@inbox.example", reason=Suppression.BLACKLIST)
    Suppression.objects.create(account=account, email="user7@inbox.example", reason=Suppression.UNSUBSCRIBED)
    task = new_task(account, lst, template)
    assert drain(task) == services.DONE
    assert (task.send_count, task.skipped_count, task.cache_count) == (8, 2, 0)
    recipients = set(Message.objects.filter(batch_task=task).values_list("recipient", flat=True))
    assert "user3@inbox.example" not in recipients and "user7@inbox.example" not in recipients


def test_chunks_walk_the_list_in_order_without_repeating_anyone(account, sender, template, settings):
    settings.SES_BATCH_CHUNK = 7
    task = new_task(account, make_list(account, 30), template)
    assert services.dispatch_chunk(task.pk) == services.MORE
    task.refresh_from_db()
    assert (task.send_count, task.cache_count) == (7, 23)
    assert drain(task) == services.DONE
    assert Message.objects.filter(batch_task=task).values("recipient").distinct().count() == 30


def test_a_chunk_that_meets_the_cap_midway_sends_up_to_it_then_pauses(account, sender, template, settings):
    settings.SES_BATCH_CHUNK = 300
    task = new_task(account, make_list(account, 900), template)
    assert services.dispatch_chunk(task.pk) == services.MORE
    assert services.dispatch_chunk(task.pk) == services.MORE  # 200 of 300 fit
    task.refresh_from_db()
    assert (task.send_count, task.cache_count) == (500, 400)
    assert services.dispatch_chunk(task.pk) == services.PAUSED


def test_the_queue_status_shows_the_cap_and_the_paused_task(account, sender, template):
    with time_machine.travel(T0, tick=False):
        task = new_task(account, make_list(account, 600), template)
        drain(task)
        status = services.queue_status(account)
    [row] = status["domains"]
    assert (row["name"], row["sent"], row["cap"], row["at_cap"]) == ("mail.alice.example", 500, 500, True)
    assert status["paused_tasks"] == [task] and status["paused_tasks"][0].resume_at == T0 + dt.timedelta(hours=24)
    assert status["queued"] == 500 and status["in_flight"] == 0
    assert status["frozen"] is False and status["active"] is True
