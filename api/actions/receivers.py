"""Recipient lists: CreateReceiver, CreateReceiverDetail, CreateReceiverDetailWithData, ListReceivers,
ListReceiverDetails, DeleteReceiver (rules in batches.lists.services and
batches.lists.importer)."""

from __future__ import annotations

import datetime as dt
import json

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account
from api.errors import ApiError
from api.params import Params
from api.registry import action
from batches.lists import importer
from batches.lists import services as list_services
from batches.lists.services import ListError
from batches.models import Receiver, ReceiverList, ReceiverListError
from sending.services import address_contains

MAX_LIMIT = 100
VALID, INVALID = 1, 2  # ReceiverDetail.Status


def _time(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def _parse_time(p: Params, name: str, end: bool = False) -> dt.datetime | None:
    raw = p.string(name, required=False)
    if raw is None:
        return None
    raw = raw.strip()
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            moment = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time())
        else:
            moment = dt.datetime.strptime(raw, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ApiError("InvalidParameterValue.WrongDate", _("%(name)s must be YYYY-MM-DD HH:MM:SS.") % {"name": name}) from None
    return timezone.make_aware(moment)


def _receiver_id(p: Params) -> int:
    if p.data.get("ReceiverId") is None:
        raise ApiError("MissingParameter.ReceiverIdNecessary", _("The parameter ReceiverId is required."))
    return p.integer("ReceiverId")


def _page(p: Params) -> tuple[int, int]:
    offset = p.integer("Offset", required=False, default=0, minimum=0)
    limit = p.integer("Limit", required=False, default=20, minimum=1, maximum=MAX_LIMIT)
    return offset, limit


@action("CreateReceiver", errors=(ListError,))
def create_receiver(account: Account, p: Params) -> dict:
    name = p.string("ReceiversName", max_length=list_services.MAX_NAME_LENGTH)
    desc = p.string("Desc", required=False, default="", allow_empty=True)
    return {"ReceiverId": list_services.create_list(account, name, desc).pk}


def _counts(result: importer.ImportResult, total: int) -> dict:
    return {
        "TotalCount": total,
        "ValidCount": result.loaded,
        "TooLongCount": result.too_long,
        "EmptyEmailCount": result.empty,
        "RepeatCount": result.duplicates,
    }


def _check_size(name: str, items: list) -> None:
    if len(items) > importer.MAX_API_RECIPIENTS:
        raise ApiError(
            "LimitExceeded.ReceiverDetailRequestLimit",
            _("%(name)s has %(count)s recipients; one call adds at most %(MAX_API_RECIPIENTS)s.") % {"name": name, "count": len(items), "MAX_API_RECIPIENTS": importer.MAX_API_RECIPIENTS},
        )


@action("CreateReceiverDetail", errors=(ListError,))
def create_receiver_detail(account: Account, p: Params) -> dict:
    receiver_id = _receiver_id(p)
    if not p.data.get("Emails"):
        raise ApiError("MissingParameter.EmailsNecessary", _("The parameter Emails needs at least one address."))
    emails = p.array("Emails", of=str)
    _check_size("Emails", emails)
    receiver_list = list_services.list_for_account(account, receiver_id)
    result = importer.add_receivers(receiver_list, [(email, {}) for email in emails])
    return _counts(result, len(emails))


@action("CreateReceiverDetailWithData", errors=(ListError,))
def create_receiver_detail_with_data(account: Account, p: Params) -> dict:
    receiver_id = _receiver_id(p)
    if not p.data.get("Datas"):
        raise ApiError("MissingParameter.EmailsNecessary", _("The parameter Datas needs at least one recipient."))
    datas = p.array("Datas", of=dict)
    _check_size("Datas", datas)
    rows = []
    for index, item in enumerate(datas):
        email = item.get("Email")
        if email is not None and not isinstance(email, str):
            raise ApiError("InvalidParameter", _("Datas.%(index)s.Email must be a string.") % {"index": index})
        raw = item.get("TemplateData")
        data: object = {}
        if raw not in (None, ""):
            if not isinstance(raw, str):
                raise ApiError("InvalidParameter", _("Datas.%(index)s.TemplateData must be a JSON string.") % {"index": index})
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, RecursionError):
                data = None
            if not isinstance(data, dict):
                raise ApiError(
                    "InvalidParameterValue.TemplateDataError", _("Datas.%(index)s.TemplateData must be a JSON object.") % {"index": index}
                )
        rows.append((email or "", data))
    receiver_list = list_services.list_for_account(account, receiver_id)
    result = importer.add_receivers(receiver_list, rows)
    return _counts(result, len(rows))


@action("ListReceivers")
def list_receivers(account: Account, p: Params) -> dict:
    offset, limit = _page(p)
    status = p.integer("Status", required=False, choices=(1, 2, 3))
    keyword = p.string("KeyWord", required=False, max_length=200)
    found = ReceiverList.objects.filter(account=account).order_by("-created_at", "-pk")
    if status is not None:
        found = found.filter(status=status)
    if keyword:
        found = found.filter(name__icontains=keyword.strip())
    return {
        "TotalCount": found.count(),
        "Data": [
            {
                "ReceiverId": rl.pk,
                "ReceiversName": rl.name,
                "Count": rl.count,
                "Desc": rl.description,
                "ReceiversStatus": rl.status,
                "CreateTime": _time(rl.created_at),
                "InvalidCount": rl.invalid_count,
            }
            for rl in found[offset: offset + limit]
        ],
    }


def _error_email(error: ReceiverListError) -> str:
    return error.content.split(",", 1)[0].strip('"')


@action("ListReceiverDetails", errors=(ListError,))
def list_receiver_details(account: Account, p: Params) -> dict:
    """Status 1 lists the recipients, 2 the refused rows of uploads (with their Reason); no Status
    lists both, recipients first."""
    receiver_id = _receiver_id(p)
    offset, limit = _page(p)
    email = p.string("Email", required=False, max_length=254)
    begin, end = _parse_time(p, "CreateTimeBegin"), _parse_time(p, "CreateTimeEnd", end=True)
    status = p.integer("Status", required=False, choices=(VALID, INVALID))
    if begin and end and begin > end:
        raise ApiError("InvalidParameterValue.WrongDate", _("CreateTimeBegin is after CreateTimeEnd."))
    receiver_list = list_services.list_for_account(account, receiver_id)

    valid = Receiver.objects.filter(receiver_list=receiver_list).order_by("id")
    invalid = ReceiverListError.objects.filter(receiver_list=receiver_list).order_by("line", "id")
    if email:
        # A non-ASCII domain typed finds the address stored as its IDNA A-label.
        valid = valid.filter(address_contains("email", email))
        invalid = invalid.filter(address_contains("content", email))
    if begin:
        valid = valid.filter(created_at__gte=begin)
    if end:
        valid = valid.filter(created_at__lt=end)
    if begin or end:
        invalid = invalid.none()  # refused rows carry no time of their own
    valid_count, invalid_count = valid.count(), invalid.count()
    shown_valid = status in (None, VALID)
    shown_invalid = status in (None, INVALID)

    data = []
    if shown_valid:
        data += [
            {
                "Email": r.email, "CreateTime": _time(r.created_at),
                "TemplateData": json.dumps(r.template_data, ensure_ascii=False) if r.template_data else "",
                "Reason": "", "Status": VALID, "EmailId": r.pk,
            }
            for r in valid[offset: offset + limit]
        ]
    if shown_invalid and len(data) < limit:
        start = max(offset - (valid_count if shown_valid else 0), 0)
        data += [
            {
                "Email": _error_email(e), "CreateTime": _time(receiver_list.created_at), "TemplateData": "",
                "Reason": f"line {e.line}: {e.reason}", "Status": INVALID, "EmailId": 0,
            }
            for e in invalid[start: start + limit - len(data)]
        ]
    total = (valid_count if shown_valid else 0) + (invalid_count if shown_invalid else 0)
    return {"TotalCount": total, "Data": data, "ValidCount": valid_count, "InvalidCount": invalid_count}


@action("DeleteReceiver", errors=(ListError,))
def delete_receiver(account: Account, p: Params) -> dict:
    list_services.delete_list(list_services.list_for_account(account, _receiver_id(p)))
    return {}

