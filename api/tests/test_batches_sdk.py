"""The official SDK, unchanged, against a live server: BatchSendEmail and ListSendTasks."""

import pytest
from tencentcloud.ses.v20201002 import models

from api.tests import test_sdk
from api.tests.test_sdk import request, sdk_error
from batches import tasks as batch_tasks
from batches.models import BatchTask
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import SENDER, drain, make_list
from sending import tasks as sending_tasks

key = test_sdk.key
ses = test_sdk.ses
sender = batch_fixtures.sender
template = batch_fixtures.template


@pytest.fixture
def broker(monkeypatch):
    """The task ids handed to the workers (the broker is the edge of the machine)."""
    handed = []
    monkeypatch.setattr(batch_tasks.dispatch, "delay", lambda task_id: handed.append(("dispatch", task_id)))
    monkeypatch.setattr(sending_tasks.deliver, "apply_async", lambda args, **options: handed.append(("deliver", args[0])))
    return handed


def test_a_batch_task_is_created_and_listed_through_the_sdk(ses, account, sender, template, broker):
    customers = make_list(account, 4)

    created = ses.BatchSendEmail(request(
        models.BatchSendEmailRequest, FromEmailAddress=f"Alice News <{SENDER}>", ReceiverId=customers.pk,
        Subject="News for {{name}}", TaskType=1, Unsubscribe="2",
        Template=request(models.Template, TemplateID=template.pk, TemplateData='{"name": "friend"}'),
    ))
    task = BatchTask.objects.get()
    assert created.TaskId == task.pk
    assert broker == [("dispatch", task.pk)]

    drain(task)
    listed = ses.ListSendTasks(request(models.ListSendTasksRequest, Offset=0, Limit=10, Status=10))
    assert listed.TotalCount == 1
    [row] = listed.Data
    assert (row.TaskId, row.TaskStatus, row.TaskType, row.ReceiverId, row.ReceiversName) == (
        task.pk, 10, 1, customers.pk, "Customers")
    assert (row.RequestCount, row.SendCount, row.CacheCount, row.ErrMsg) == (4, 4, 0, "")
    assert row.Template.TemplateID == template.pk
    assert len(row.CreateTime) == len("2030-01-01 00:00:00")
    assert row.TimedParam is None and row.CycleParam is None

    timed = ses.BatchSendEmail(request(
        models.BatchSendEmailRequest, FromEmailAddress=SENDER, ReceiverId=customers.pk, TaskType=2,
        Template=request(models.Template, TemplateID=template.pk),
        TimedParam=request(models.TimedEmailParam, BeginTime="2099-01-02 03:04:05"),
    ))
    pending = ses.ListSendTasks(request(models.ListSendTasksRequest, Offset=0, Limit=10, TaskType=2))
    assert [(r.TaskId, r.TaskStatus, r.TimedParam.BeginTime) for r in pending.Data] == [
        (timed.TaskId, 1, "2099-01-02 03:04:05")]


def test_the_sdk_reports_batch_refusals_with_their_codes(ses, account, sender, template, broker):
    error = sdk_error(lambda: ses.BatchSendEmail(request(
        models.BatchSendEmailRequest, FromEmailAddress=SENDER, ReceiverId=999999, TaskType=1,
        Template=request(models.Template, TemplateID=template.pk),
    )))
    assert error.code == "OperationDenied.ReceiverNotExist"

    customers = make_list(account, 1)
    error = sdk_error(lambda: ses.BatchSendEmail(request(
        models.BatchSendEmailRequest, FromEmailAddress=SENDER, ReceiverId=customers.pk, TaskType=3,
        Template=request(models.Template, TemplateID=template.pk),
    )))
    assert error.code == "MissingParameter.CycleParamNecessary"
    assert not BatchTask.objects.exists()
    assert broker == []
