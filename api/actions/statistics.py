"""GetStatisticsReport: the daily aggregates of stats.queries in the SDK's Volume shape (SPEC §5, §6).

The API serves the last 90 days only (the console may show more): a start date more than 90 days
before today, a date in the future or a range longer than 90 days is FailedOperation.NotSupportDate;
a date that is not YYYY-MM-DD, or an end before the start, is InvalidParameterValue.WrongDate.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils.translation import gettext

from accounts.models import Account
from api.errors import ApiError
from api.params import Params
from api.registry import action
from core.clock import platform_today
from stats import queries
from stats.queries import Totals

WRONG_DATE = "InvalidParameterValue.WrongDate"
NOT_SUPPORT_DATE = "FailedOperation.NotSupportDate"
MAX_DAYS_BACK = 90
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(p: Params, name: str) -> dt.date:
    text = p.string(name).strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ApiError(WRONG_DATE, gettext("The parameter %(name)s must be a date as YYYY-MM-DD, not %(text)s.") % {"name": name, "text": repr(text)}) from None


def _check_range(start: dt.date, end: dt.date, today: dt.date) -> None:
    if end < start:
        raise ApiError(WRONG_DATE, gettext("EndDate %(end)s is before StartDate %(start)s.") % {"end": end, "start": start})
    oldest = today - dt.timedelta(days=MAX_DAYS_BACK)
    if start < oldest:
        raise ApiError(NOT_SUPPORT_DATE, gettext("Statistics are served for the last %(MAX_DAYS_BACK)s days: from %(oldest)s.") % {"MAX_DAYS_BACK": MAX_DAYS_BACK, "oldest": oldest})
    if end > today:
        raise ApiError(NOT_SUPPORT_DATE, gettext("EndDate %(end)s is in the future (today is %(today)s).") % {"end": end, "today": today})
    if (end - start).days > MAX_DAYS_BACK:
        raise ApiError(NOT_SUPPORT_DATE, gettext("A report covers at most %(MAX_DAYS_BACK)s days.") % {"MAX_DAYS_BACK": MAX_DAYS_BACK})


def _volume(send_date: str, totals: Totals) -> dict:
    return {
        "SendDate": send_date,
        "RequestCount": totals.requested,
        "AcceptedCount": totals.accepted,
        "DeliveredCount": totals.delivered,
        "OpenedCount": totals.opened,
        "ClickedCount": totals.clicked,
        "BounceCount": totals.bounces,
        "UnsubscribeCount": totals.unsubscribed,
    }


@action("GetStatisticsReport")
def get_statistics_report(account: Account, p: Params) -> dict:
    start = _date(p, "StartDate")
    end = _date(p, "EndDate")
    domain = p.string("Domain", required=False, allow_empty=True, max_length=253) or None
    mailbox_type = p.string("ReceivingMailboxType", required=False, allow_empty=True, max_length=253) or None
    _check_range(start, end, platform_today())
    days = queries.daily_volumes(account, start, end, domain=domain, mailbox_type=mailbox_type)
    overall = sum((totals for _, totals in days), Totals())  # the days already hold it: no second query
    return {
        "DailyVolumes": [_volume(day.isoformat(), totals) for day, totals in days],
        "OverallVolume": _volume("", overall),
    }
