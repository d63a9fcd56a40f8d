"""The account's blacklist: ListBlackEmailAddress, DeleteBlackList."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account
from api.errors import ApiError
from api.params import Params
from api.registry import action
from core.clock import start_of_day
from sending import services
from sending.models import Suppression

MAX_LIMIT = 100


def _date(p: Params, name: str) -> dt.date | None:
    raw = p.string(name, required=False)
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ApiError("InvalidParameterValue.WrongDate", _("%(name)s must be a date as YYYY-MM-DD.") % {"name": name}) from None


@action("ListBlackEmailAddress")
def list_black_email_address(account: Account, p: Params) -> dict:
    start, end = _date(p, "StartDate"), _date(p, "EndDate")
    limit = p.integer("Limit", required=False, default=100, minimum=1)
    if limit > MAX_LIMIT:
        raise ApiError("FailedOperation.InvalidLimit", _("Limit is at most %(MAX_LIMIT)s.") % {"MAX_LIMIT": MAX_LIMIT})
    offset = p.integer("Offset", required=False, default=0, minimum=0)
    email = p.string("EmailAddress", required=False, max_length=254)
    p.string("TaskID", required=False, allow_empty=True)  # deprecated in the SDK; accepted and ignored
    if start and end and start > end:
        raise ApiError("InvalidParameterValue.WrongDate", _("StartDate is after EndDate."))
    entries = Suppression.objects.filter(account=account, reason=Suppression.BLACKLIST)
    if start:
        entries = entries.filter(created_at__gte=start_of_day(start))
    if end:
        entries = entries.filter(created_at__lt=start_of_day(end + dt.timedelta(days=1)))
    if email:
        # Typed with a non-ASCII domain, it finds the entry stored as its IDNA A-label.
        entries = entries.filter(email__in=services.address_lookup_forms(email))
    entries = entries.order_by("-created_at", "-id")
    return {
        "BlackList": [
            {
                "BounceTime": timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                "EmailAddress": entry.email,
                "IspDesc": entry.detail or entry.get_reason_display(),
            }
            for entry in entries[offset: offset + limit]
        ],
        "TotalCount": entries.count(),
    }


@action("DeleteBlackList")
def delete_black_list(account: Account, p: Params) -> dict:
    emails = p.array("EmailAddressList", of=str, max_items=1000)
    services.remove_from_blacklist(account, emails)
    return {}
