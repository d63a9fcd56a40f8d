"""The platform's one clock: which platform day it is now (a day runs 00:00–24:00 in TIME_ZONE).

    platform_today   today's date, recomputed once a minute
    start_of_day     the aware datetime at which a day begins
"""

from __future__ import annotations

import datetime as dt
import time

from django.utils import timezone


def platform_today() -> dt.date:
    """The local date in the default time zone, recomputed once a minute: the local date changes only
    on a minute (every time zone's offset is whole minutes). Keyed on the default time zone (settings;
    nothing in the project activates another), so a test that changes TIME_ZONE sees its own date."""
    minute = int(time.time() // 60)
    zone = timezone.get_default_timezone()
    cached = _today_cache
    if cached and cached[0] == minute and cached[1] is zone:
        return cached[2]
    day = timezone.localdate(timezone=zone)
    _today_cache[:] = [minute, zone, day]
    return day


_today_cache: list = []  # [minute since the epoch, time zone, its date]


def start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
