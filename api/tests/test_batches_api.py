"""BatchSendEmail and ListSendTasks through signed requests: every refusal has the SDK's code and
writes nothing; ListSendTasks shows the SDK's shape, statuses and filters, and only the caller's tasks."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AccountFreeze
from api.tests.signing import error_code
from batches import services
from batches.models import BatchTask, ReceiverList
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import SENDER, drain, make_list, new_task
from core.clock import platform_today
from domains.models import SenderDomain
from domains.services import create_domain
from sending import services as sending
from sending.models import Message, Template
from sending.tests.send_fixtures import set_sent

sender = batch_fixtures.sender
template = batch_fixtures.template

NOW = dt.datetime(2030, 5, 6, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def customers(account):
    return make_list(account, 3)


@pytest.fixture
def charlies(other_account):
    """Another tenant with its own verified domain, sender address, approved template and list."""
    domain = create_domain(other_account, "mail.charlie.example")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED)
    sending.create_sender_address(other_account, "ceo@mail.charlie.example")
    their_template = sending.create_template(
        other_account, name="Theirs", subject="Hi {{name}}", text="Hi {{name}}", transactional=True
    )
    return their_template, make_list(other_account, 2, name="Their customers")


def params(approved, receiver_list, **overrides) -> dict:
    base = {
        "FromEmailAddress": f"Alice News <{SENDER}>",
        "ReceiverId": receiver_list.pk,
        "Subject": "News for {{name}}",
        "TaskType": 1,
        "Template": {"TemplateID": approved.pk},
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def written() -> tuple[int, int]:
    return BatchTask.objects.count(), Message.objects.count()


def local(text: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S"))


# --- BatchSendEmail ------------------------------------------------------------------------------


def test_an_immediate_task_returns_its_id_and_starts_sending(api, account, sender, template, customers):
    data = api("BatchSendEmail", params(template, customers))

    assert "Error" not in data, data
    task = BatchTask.objects.get()
    assert data["TaskId"] == task.pk
    assert (task.account, task.status, task.task_type, task.request_count, task.cache_count) == (
        account, BatchTask.SENDING, BatchTask.IMMEDIATE, 3, 3,
    )
    assert (task.subject, task.from_name, task.sender.email) == ("News for {{name}}", "Alice News", SENDER)


@time_machine.travel(NOW, tick=False)
def test_a_timed_task_waits_for_its_begin_time_in_the_platform_time_zone(api, sender, template, customers, settings):
    data = api("BatchSendEmail", params(template, customers, TaskType=2, TimedParam={"BeginTime": "2030-05-07 09:30:00"}))

    assert "Error" not in data, data
    task = BatchTask.objects.get()
    assert (task.status, task.begin_time) == (BatchTask.PENDING, local("2030-05-07 09:30:00"))


@time_machine.travel(NOW, tick=False)
def test_a_recurring_task_keeps_its_interval(api, sender, template, customers):
    data = api("BatchSendEmail", params(
        template, customers, TaskType=3, CycleParam={"BeginTime": "2030-05-07 08:00:00", "IntervalTime": 24},
        Unsubscribe="2", ReplyToAddresses="help@alice.example",
    ))

    assert "Error" not in data, data
    task = BatchTask.objects.get()
    assert (task.task_type, task.status, task.interval_hours, task.next_run_at) == (
        BatchTask.RECURRING, BatchTask.PENDING, 24, local("2030-05-07 08:00:00"),
    )
    assert (task.unsubscribe, task.reply_to) == (2, "help@alice.example")


def _freeze(account, _lists):
    AccountFreeze.objects.create(account=account, day=platform_today(), rule="F1")


def _reject_template(account, _lists):
    Template.objects.filter(account=account).update(status=Template.REJECTED)


def _uploading(account, lists):
    ReceiverList.objects.filter(pk=lists.pk).update(status=ReceiverList.UPLOADING)


ERRORS = [
    # (what, parameter changes, setup, expected code)
    ("no receiver id", {"ReceiverId": None}, None, "MissingParameter.ReceiverIdNecessary"),
    ("receiver id not a number", {"ReceiverId": "12"}, None, "InvalidParameter"),
    ("no such list", {"ReceiverId": 999999}, None, "OperationDenied.ReceiverNotExist"),
    ("a list still uploading", {}, _uploading, "OperationDenied.ReceiverIsOperating"),
    ("no task type", {"TaskType": None}, None, "MissingParameter"),
    ("task type 4", {"TaskType": 4}, None, "InvalidParameterValue"),
    ("timed without TimedParam", {"TaskType": 2}, None, "MissingParameter.TimedParamNecessary"),
    ("recurring without CycleParam", {"TaskType": 3}, None, "MissingParameter.CycleParamNecessary"),
    ("begin time in another format", {"TaskType": 2, "TimedParam": {"BeginTime": "2099-01-01T08:00"}}, None,
     "InvalidParameter.InvalidStartTimeFormat"),
    ("begin time in the past", {"TaskType": 2, "TimedParam": {"BeginTime": "2001-01-01 08:00:00"}}, None,
     "InvalidParameterValue.BeginTimeBeforeNow"),
    ("recurring without interval", {"TaskType": 3, "CycleParam": {"BeginTime": "2099-01-01 08:00:00"}}, None,
     "MissingParameter"),
    ("recurring every 0 hours", {"TaskType": 3, "CycleParam": {"BeginTime": "2099-01-01 08:00:00", "IntervalTime": 0}},
     None, "InvalidParameterValue"),
    ("no template", {"Template": None}, None, "MissingParameter"),
    ("no such template", {"Template": {"TemplateID": 999999}}, None, "InvalidParameterValue.TemplateNotExist"),
    ("template data not a json object", {"Template": {"TemplateID": "ours", "TemplateData": "[1]"}}, None,
     "InvalidParameterValue.TemplateDataError"),
    ("rejected template", {}, _reject_template, "OperationDenied.TemplateStatusError"),
    ("unknown sender", {"FromEmailAddress": "nobody@mail.alice.example"}, None, "InvalidParameterValue.NoSuchSender"),
    ("attachments", {"Attachments": [{"FileName": "a.txt", "Content": "aGk="}]}, None,
     "FailedOperation.NoAttachPermission"),
    ("unsubscribe out of range", {"Unsubscribe": "13"}, None, "InvalidParameterValue"),
    ("an advertising label", {"ADLocation": 1}, None, "InvalidParameterValue"),
    ("a qq group in the subject", {"Subject": "QQ群 123456"}, None, "InvalidParameterValue"),
    ("frozen account", {}, _freeze, "FailedOperation.HighRejectionRate"),
]


@pytest.mark.parametrize("what, changes, setup, code", ERRORS, ids=[case[0] for case in ERRORS])
def test_every_refusal_has_its_code_and_writes_nothing(api, account, sender, template, customers, what, changes, setup, code):
    if setup:
        setup(account, customers)
    request = params(template, customers, **changes)
    if request.get("Template", {}).get("TemplateID") == "ours":
        request["Template"] = {**request["Template"], "TemplateID": template.pk}
    before = written()

    data = api("BatchSendEmail", request)

    assert error_code(data) == code, data
    assert data["Error"]["Message"]
    assert written() == before


def test_another_tenants_list_is_as_good_as_missing(api, sender, template, charlies):
    _their_template, their_list = charlies

    data = api("BatchSendEmail", params(template, their_list))

    assert error_code(data) == "OperationDenied.ReceiverNotExist"
    assert their_list.name not in data["Error"]["Message"]
    assert written() == (0, 0)


def test_another_tenants_template_is_as_good_as_missing(api, sender, template, customers, charlies):
    their_template, _their_list = charlies

    data = api("BatchSendEmail", params(their_template, customers))

    assert error_code(data) == "InvalidParameterValue.TemplateNotExist"
    assert written() == (0, 0)


def test_another_tenants_sender_cannot_be_used(api, sender, template, customers, charlies):
    data = api("BatchSendEmail", params(template, customers, FromEmailAddress="ceo@mail.charlie.example"))

    assert error_code(data) == "InvalidParameterValue.NoSuchSender"
    assert written() == (0, 0)


# --- ListSendTasks -------------------------------------------------------------------------------


def test_a_task_is_listed_in_the_sdks_shape(api, account, sender, template, customers, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    with time_machine.travel(NOW, tick=False):
        task = new_task(account, customers, template, subject="News for {{name}}",
                        task_type=BatchTask.TIMED, begin_time=local("2030-05-07 09:30:00"))

    data = api("ListSendTasks", {"Offset": 0, "Limit": 10})

    assert data["TotalCount"] == 1
    assert data["Data"] == [{
        "TaskId": task.pk,
        "FromEmailAddress": f"Alice News <{SENDER}>",
        "ReceiverId": customers.pk,
        "ReceiversName": "Customers",
        "TaskStatus": 1,
        "TaskType": 2,
        "RequestCount": 3,
        "SendCount": 0,
        "CacheCount": 3,
        "CreateTime": "2030-05-06 18:00:00",  # 10:00 UTC in the platform's zone
        "UpdateTime": "2030-05-06 18:00:00",
        "Subject": "News for {{name}}",
        "Template": {"TemplateID": template.pk, "TemplateData": ""},
        "ErrMsg": "",
        "CycleParam": None,
        "TimedParam": {"BeginTime": "2030-05-07 09:30:00"},
    }]


def test_counts_follow_the_dispatch_and_a_paused_task_says_why(api, account, sender, template):
    customers = make_list(account, 5)
    set_sent(sender.domain, 497)  # room for three of the five
    task = new_task(account, customers, template)

    drain(task)
    [row] = api("ListSendTasks", {"Offset": 0, "Limit": 10})["Data"]

    assert (row["TaskStatus"], row["RequestCount"], row["SendCount"], row["CacheCount"]) == (6, 5, 3, 2)
    assert "daily cap" in row["ErrMsg"]


def test_a_cancelled_task_is_reported_as_failed_with_the_reason(api, account, owner, sender, template, customers):
    task = new_task(account, customers, template)
    services.cancel_task(task, owner)

    [row] = api("ListSendTasks", {"Offset": 0, "Limit": 10})["Data"]

    assert row["TaskStatus"] == 7
    assert "cancelled" in row["ErrMsg"]
    assert [r["TaskId"] for r in api("ListSendTasks", {"Status": 7, "Limit": 10})["Data"]] == [task.pk]


def test_a_recurring_task_shows_its_cycle(api, account, sender, template, customers):
    with time_machine.travel(NOW, tick=False):
        new_task(account, customers, template, task_type=BatchTask.RECURRING,
                 begin_time=local("2030-05-07 08:00:00"), interval_hours=12)

    [row] = api("ListSendTasks", {"Offset": 0, "Limit": 10})["Data"]

    assert (row["TaskType"], row["TimedParam"]) == (3, None)
    assert row["CycleParam"] == {"BeginTime": "2030-05-07 08:00:00", "IntervalTime": 12, "TermCycle": 0}


def test_filters_and_paging(api, account, sender, template, customers):
    others = make_list(account, 2, name="Others")
    first = new_task(account, customers, template)
    second = new_task(account, others, template)
    BatchTask.objects.filter(pk=second.pk).update(status=BatchTask.DONE)
    with time_machine.travel(NOW, tick=False):
        timed = new_task(account, customers, template, task_type=BatchTask.TIMED, begin_time=local("2030-05-07 09:00:00"))

    def ids(**query) -> list[int]:
        data = api("ListSendTasks", {"Offset": 0, "Limit": 100, **query})
        assert "Error" not in data, data
        return sorted(row["TaskId"] for row in data["Data"])

    assert ids() == sorted([first.pk, second.pk, timed.pk])
    assert ids(Status=5) == [first.pk]
    assert ids(Status=10) == [second.pk]
    assert ids(Status=1) == [timed.pk]
    assert ids(Status=6) == []
    assert ids(ReceiverId=others.pk) == [second.pk]
    assert ids(TaskType=2) == [timed.pk]
    assert ids(TaskType=1, ReceiverId=customers.pk) == [first.pk]

    page = api("ListSendTasks", {"Offset": 1, "Limit": 1})
    assert (len(page["Data"]), page["TotalCount"]) == (1, 3)


def test_another_tenants_tasks_are_never_listed(api, other_api, account, sender, template, customers):
    new_task(account, customers, template)

    theirs = other_api("ListSendTasks", {"Offset": 0, "Limit": 10})
    by_our_list = other_api("ListSendTasks", {"Offset": 0, "Limit": 10, "ReceiverId": customers.pk})

    assert (theirs["Data"], theirs["TotalCount"]) == ([], 0)
    assert (by_our_list["Data"], by_our_list["TotalCount"]) == ([], 0)


@pytest.mark.parametrize("query, code", [
    ({"Limit": 101}, "FailedOperation.InvalidLimit"),
    ({"Limit": 0}, "InvalidParameterValue"),
    ({"Offset": -1}, "InvalidParameterValue"),
    ({"Status": 2}, "InvalidParameterValue"),
    ({"TaskType": 9}, "InvalidParameterValue"),
    ({"ReceiverId": "x"}, "InvalidParameter"),
])
def test_bad_list_queries_have_their_codes(api, query, code):
    assert error_code(api("ListSendTasks", query)) == code
