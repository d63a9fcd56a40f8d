import datetime as dt
import re

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.clock import platform_today
from domains.models import ClosedDay
from domains.reputation.services import close_day, close_due_days

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Command(BaseCommand):
    help = (
        "Close a platform day (default: yesterday): downgrades for the next day and freeze bookkeeping. "
        "Earlier days never closed are closed first, in order. Closing a closed day changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", metavar="YYYY-MM-DD", help="The platform day to close (default: yesterday)")

    def handle(self, *args, date: str | None = None, **options):
        today = platform_today()
        day = self._parse(date, today) if date is not None else today - dt.timedelta(days=1)
        already = set(ClosedDay.objects.filter(day__lte=day).values_list("day", flat=True))
        # Downgrades stack day by day, so a missed day must be closed before the days after it.
        closed = [c for c in close_due_days(until=day - dt.timedelta(days=1)) if c.day not in already]
        target = close_day(day)
        if day not in already:
            closed.append(target)
        for item in closed:
            self.stdout.write(
                f"Closed {item.day}: {item.domains_evaluated} domain(s) evaluated, {item.downgrades} downgraded."
            )
        if day in already:
            self.stdout.write(
                f"{day} was already closed on {timezone.localtime(target.closed_at):%Y-%m-%d %H:%M %Z}: nothing changed."
            )

    @staticmethod
    def _parse(raw: str, today: dt.date) -> dt.date:
        try:
            if not _DATE.match(raw):
                raise ValueError
            day = dt.date.fromisoformat(raw)
        except ValueError:
            raise CommandError(f"--date must be a date as YYYY-MM-DD, e.g. 2025-01-31, not {raw!r}.") from None
        if day >= today:
            raise CommandError(
                f"{day} has not ended yet (today is {today} in the platform time zone): only past days can be closed."
            )
        return day
