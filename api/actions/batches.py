"""BatchSendEmail and ListSendTasks. The checks and the writing are batches.services.create_task;
the recipients and their template variables come from the receiver list (CreateReceiverDetailWithData).

Times (`BeginTime`, `CreateTime`, `UpdateTime`) are the SDK's `YYYY-MM-DD HH:MM:SS` in the platform
time zone (settings.TIME_ZONE).
"""

from __future__ import annotations

import datetime as dt
import json

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account
from api.actions.sending import _unsubscribe_option
from api.errors import INVALID_PARAMETER_VALUE, ApiError
from api.params import Params
from api.registry import action
from batches import services
from batches.models import BatchTask
from batches.services import BatchError
from core import unusable

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_LIMIT = 100
# The SDK knows five task states; a task the customer cancelled is reported as failed, with the reason.
SDK_STATUS = {BatchTask.CANCELLED: BatchTask.FAILED}
STATUS_FILTERS = {
    BatchTask.PENDING: (BatchTask.PENDING,),
    BatchTask.SENDING: (BatchTask.SENDING,),
    BatchTask.PAUSED: (BatchTask.PAUSED,),
    BatchTask.FAILED: (BatchTask.FAILED, BatchTask.CANCELLED),
    BatchTask.DONE: (BatchTask.DONE,),
}


def _begin_time(params: Params, parent: str) -> dt.datetime:
    raw = params.string("BeginTime")
    try:
        naive = dt.datetime.strptime(raw.strip(), TIME_FORMAT)
    except ValueError:
        raise ApiError(
            "InvalidParameter.InvalidStartTimeFormat", _("%(parent)s.BeginTime must be YYYY-MM-DD HH:MM:SS.") % {"parent": parent}
        ) from None
    return timezone.make_aware(naive, timezone.get_current_timezone())


def _schedule(p: Params, task_type: int) -> tuple[dt.datetime | None, int | None]:
    """(begin_time, interval_hours) of a timed or recurring task; (None, None) for an immediate one."""
    if task_type == BatchTask.TIMED:
        timed = p.mapping("TimedParam", required=False)
        if timed is None:
            raise ApiError("MissingParameter.TimedParamNecessary", _("A timed task (TaskType 2) needs TimedParam."))
        return _begin_time(Params(timed), "TimedParam"), None
    if task_type == BatchTask.RECURRING:
        cycle = p.mapping("CycleParam", required=False)
        if cycle is None:
            raise ApiError("MissingParameter.CycleParamNecessary", _("A recurring task (TaskType 3) needs CycleParam."))
        cycle_params = Params(cycle)
        begin_time = _begin_time(cycle_params, "CycleParam")
        interval = cycle_params.integer("IntervalTime", minimum=1, maximum=24 * 365)
        cycle_params.integer("TermCycle", required=False, choices=(0, 1))
        return begin_time, interval
    return None, None


def _check_template_data(template: Params) -> None:
    # Each recipient's variables come from the list; the call's TemplateData is accepted for the
    # SDK's sake but must at least be what the SDK documents: a JSON object as a string.
    raw = template.string("TemplateData", required=False, default="", allow_empty=True)
    if not raw.strip():
        return
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiError("InvalidParameterValue.TemplateDataError", _("Template.TemplateData must be a JSON object."))
    found = unusable.find(data)
    if found is not None:
        raise ApiError("InvalidParameterValue.InValidTemplateData", _(
            "Template.TemplateData: %(name)s contains %(char)s, a character that cannot be used."
        ) % {"name": found.name(), "char": unusable.code_point(found.char)})


@action("BatchSendEmail", errors=(BatchError,))
def batch_send_email(account: Account, p: Params) -> dict:
    if p.data.get("Attachments"):
        raise ApiError("FailedOperation.NoAttachPermission", _("Attachments are not supported."))
    if p.data.get("Template") is None and p.data.get("Simple") is not None:
        raise ApiError("FailedOperation.WithOutPermission", _("Only template sending is supported: give Template."))
    from_address = p.string("FromEmailAddress", max_length=400)
    if p.data.get("ReceiverId") is None:
        raise ApiError("MissingParameter.ReceiverIdNecessary", _("The parameter ReceiverId is required."))
    receiver_id = p.integer("ReceiverId", minimum=1)
    task_type = p.integer("TaskType", choices=(BatchTask.IMMEDIATE, BatchTask.TIMED, BatchTask.RECURRING))
    template = Params(p.mapping("Template"))
    template_id = template.integer("TemplateID", minimum=1)
    _check_template_data(template)
    subject = p.string("Subject", required=False, default="", allow_empty=True, max_length=500)
    reply_to = p.string("ReplyToAddresses", required=False, default="", allow_empty=True, max_length=254)
    unsubscribe = _unsubscribe_option(p)
    if unsubscribe not in range(0, 13):
        raise ApiError(INVALID_PARAMETER_VALUE, _("The parameter Unsubscribe must be a number from 0 to 12."))
    if p.integer("ADLocation", required=False, default=0, choices=(0, 1, 2)):
        # Refused rather than ignored: the caller would expect a label the mail does not carry.
        raise ApiError(INVALID_PARAMETER_VALUE, _("ADLocation is not supported here: advertising labels are not added."))
    begin_time, interval_hours = _schedule(p, task_type)
    task = services.create_task(
        account, from_address=from_address, receiver_list_id=receiver_id, template_id=template_id,
        subject=subject, task_type=task_type, begin_time=begin_time, interval_hours=interval_hours,
        unsubscribe=unsubscribe, reply_to=reply_to,
    )
    return {"TaskId": task.pk}


def _time(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime(TIME_FORMAT) if value else ""


def _err_msg(task: BatchTask) -> str:
    if task.status == BatchTask.CANCELLED:
        return task.err_msg or "cancelled"
    if task.status == BatchTask.PAUSED:
        return task.err_msg or task.pause_reason
    return task.err_msg


def _task_data(task: BatchTask) -> dict:
    sender = task.sender.email
    data = {
        "TaskId": task.pk,
        "FromEmailAddress": f"{task.from_name} <{sender}>" if task.from_name else sender,
        "ReceiverId": task.receiver_list_id,
        "ReceiversName": task.receiver_list.name,
        "TaskStatus": SDK_STATUS.get(task.status, task.status),
        "TaskType": task.task_type,
        "RequestCount": task.request_count,
        "SendCount": task.send_count,
        "CacheCount": task.cache_count,
        "CreateTime": _time(task.created_at),
        "UpdateTime": _time(task.updated_at),
        "Subject": task.subject,
        "Template": {"TemplateID": task.template_id, "TemplateData": ""},
        "ErrMsg": _err_msg(task),
        "CycleParam": None,
        "TimedParam": None,
    }
    if task.task_type == BatchTask.TIMED:
        data["TimedParam"] = {"BeginTime": _time(task.begin_time)}
    elif task.task_type == BatchTask.RECURRING:
        data["CycleParam"] = {
            "BeginTime": _time(task.begin_time), "IntervalTime": task.interval_hours or 0, "TermCycle": 0,
        }
    return data


@action("ListSendTasks")
def list_send_tasks(account: Account, p: Params) -> dict:
    offset = p.integer("Offset", required=False, default=0, minimum=0)
    limit = p.integer("Limit", required=False, default=MAX_LIMIT, minimum=1)
    if limit > MAX_LIMIT:
        raise ApiError("FailedOperation.InvalidLimit", _("Limit is at most %(MAX_LIMIT)s.") % {"MAX_LIMIT": MAX_LIMIT})
    status = p.integer("Status", required=False, choices=tuple(STATUS_FILTERS))
    receiver_id = p.integer("ReceiverId", required=False, minimum=1)
    task_type = p.integer(
        "TaskType", required=False, choices=(BatchTask.IMMEDIATE, BatchTask.TIMED, BatchTask.RECURRING)
    )

    tasks = BatchTask.objects.filter(account=account)
    if status is not None:
        tasks = tasks.filter(status__in=STATUS_FILTERS[status])
    if receiver_id is not None:
        # Another tenant's list id simply matches nothing of this account.
        tasks = tasks.filter(receiver_list_id=receiver_id)
    if task_type is not None:
        tasks = tasks.filter(task_type=task_type)
    page = tasks.select_related("sender", "receiver_list").order_by("-created_at", "-id")[offset: offset + limit]
    return {"Data": [_task_data(task) for task in page], "TotalCount": tasks.count()}
