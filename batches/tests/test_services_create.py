"""create_task: what a customer gets back when starting a batch, and every refusal writes nothing."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import AccountFreeze
from batches.models import BatchTask, ReceiverList
from batches.services import BatchError, create_task, task_for_account
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import SENDER, make_list, new_task
from sending.models import Template

pytestmark = pytest.mark.django_db

sender = batch_fixtures.sender
template = batch_fixtures.template


def refused(account, code, **options):
    before = BatchTask.objects.count()
    with pytest.raises(BatchError) as excinfo:
        create_task(account, **options)
    assert excinfo.value.code == code, excinfo.value.message
    assert BatchTask.objects.count() == before
    return excinfo.value


def test_an_immediate_task_starts_sending_with_the_list_count_waiting(account, sender, template):
    task = new_task(account, make_list(account, 30), template)
    assert task.status == BatchTask.SENDING
    assert (task.request_count, task.cache_count, task.send_count) == (30, 30, 0)
    assert task.domain == sender.domain and task.from_name == "Alice News"
    assert task.subject == "Welcome, {{name}}"


def test_a_timed_task_waits_for_its_begin_time(account, sender, template):
    begin = timezone.now() + dt.timedelta(hours=2)
    task = new_task(account, make_list(account, 3), template, task_type=BatchTask.TIMED, begin_time=begin)
    assert task.status == BatchTask.PENDING and task.begin_time == begin


def test_a_recurring_task_is_a_schedule_whose_first_round_is_at_begin_time(account, sender, template):
    begin = timezone.now() + dt.timedelta(hours=1)
    task = new_task(account, make_list(account, 3), template, task_type=BatchTask.RECURRING, begin_time=begin, interval_hours=24)
    assert task.status == BatchTask.PENDING
    assert task.next_run_at == begin and task.interval_hours == 24
    assert not task.runs.exists()


def test_it_rejects_a_timed_task_without_begin_time(account, sender, template):
    lst = make_list(account, 3)
    refused(account, "MissingParameter.TimedParamNecessary", from_address=SENDER, receiver_list_id=lst.pk,
            template_id=template.pk, task_type=BatchTask.TIMED)


def test_it_rejects_a_recurring_task_without_an_interval(account, sender, template):
    lst = make_list(account, 3)
    refused(account, "MissingParameter.CycleParamNecessary", from_address=SENDER, receiver_list_id=lst.pk,
            template_id=template.pk, task_type=BatchTask.RECURRING, begin_time=timezone.now() + dt.timedelta(hours=1))


def test_it_rejects_an_interval_under_one_hour(account, sender, template):
    lst = make_list(account, 3)
    refused(account, "InvalidParameterValue", from_address=SENDER, receiver_list_id=lst.pk, template_id=template.pk,
            task_type=BatchTask.RECURRING, begin_time=timezone.now() + dt.timedelta(hours=1), interval_hours=0)


def test_it_rejects_a_begin_time_in_the_past(account, sender, template):
    lst = make_list(account, 3)
    refused(account, "InvalidParameterValue.BeginTimeBeforeNow", from_address=SENDER, receiver_list_id=lst.pk,
            template_id=template.pk, task_type=BatchTask.TIMED, begin_time=timezone.now() - dt.timedelta(minutes=5))


def test_it_rejects_another_accounts_list_as_not_existing(account, other_account, sender, template):
    theirs = make_list(other_account, 3)
    refused(account, "OperationDenied.ReceiverNotExist", from_address=SENDER, receiver_list_id=theirs.pk, template_id=template.pk)


def test_it_rejects_a_list_that_is_still_uploading_or_empty(account, sender, template):
    uploading = ReceiverList.objects.create(account=account, name="Up", status=ReceiverList.UPLOADING)
    refused(account, "OperationDenied.ReceiverIsOperating", from_address=SENDER, receiver_list_id=uploading.pk, template_id=template.pk)
    empty = ReceiverList.objects.create(account=account, name="Empty", status=ReceiverList.DONE)
    refused(account, "OperationDenied.ReceiverStatusError", from_address=SENDER, receiver_list_id=empty.pk, template_id=template.pk)


def test_it_rejects_a_template_that_is_not_approved(account, sender, template):
    Template.objects.filter(pk=template.pk).update(status=Template.REJECTED)
    lst = make_list(account, 3)
    refused(account, "OperationDenied.TemplateStatusError", from_address=SENDER, receiver_list_id=lst.pk, template_id=template.pk)


def test_it_rejects_a_sender_that_is_not_the_accounts(account, sender, template):
    lst = make_list(account, 3)
    refused(account, "InvalidParameterValue.NoSuchSender", from_address="someone@elsewhere.example",
            receiver_list_id=lst.pk, template_id=template.pk)


def test_it_refuses_a_frozen_account(account, sender, template):
    lst = make_list(account, 3)
    AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F1", metrics={})
    refused(account, "FailedOperation.HighRejectionRate", from_address=SENDER, receiver_list_id=lst.pk, template_id=template.pk)


def test_another_account_cannot_see_the_task(account, other_account, sender, template):
    task = new_task(account, make_list(account, 3), template)
    assert task_for_account(account, task.pk) == task
    with pytest.raises(BatchError) as excinfo:
        task_for_account(other_account, task.pk)
    assert excinfo.value.code == "ResourceNotFound"
