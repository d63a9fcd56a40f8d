"""CSV export of the statistics: one row per day of the range, then a totals row.

The lines come from a generator, so a view can hand them straight to StreamingHttpResponse:

    StreamingHttpResponse(export.csv_lines(account, start, end, domain, mailbox_type),
                          content_type="text/csv; charset=utf-8",
                          headers={"Content-Disposition": f'attachment; filename="{export.filename(...)}"'})

The totals row is the sum of the day rows above it (not a second query), so the file always adds up.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from fractions import Fraction

from accounts.models import Account
from stats.queries import RATES, Totals, daily_volumes

HEADER = (
    "date", "requested", "accepted", "delivered", "opened", "clicked", "bounces", "unsubscribed",
    "invalid", "spam", "other_bounces", "complaints",
    "invalid_rate", "delivery_rate", "spam_rate", "complaint_rate", "open_rate",
)
TOTAL_LABEL = "total"


def format_rate(rate: Fraction) -> str:
    """A percentage with two decimals, rounded half up from the exact value (12.345 -> 12.35)."""
    # floor(rate × 100 + 1/2) in integers: the same value, without building two more Fractions.
    hundredths = (rate.numerator * 200 + rate.denominator) // (2 * rate.denominator)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def row_cells(label: str, totals: Totals) -> list[str]:
    """One row of the CSV and of the page's table: the label, the counts, the rates."""
    counts = (
        totals.requested, totals.accepted, totals.delivered, totals.opened, totals.clicked, totals.bounces,
        totals.unsubscribed, totals.invalid, totals.spam, totals.bounced, totals.complaints,
    )
    rates = totals.rates()
    return [label, *map(str, counts), *(format_rate(rates[name]) for name in RATES)]


def rows(
    account: Account, start: dt.date, end: dt.date, domain: str | None = None, mailbox_type: str | None = None
) -> Iterator[list[str]]:
    """The header, a row per day (zeros included) and the totals row, as lists of strings."""
    yield list(HEADER)
    total = Totals()
    for day, totals in daily_volumes(account, start, end, domain=domain, mailbox_type=mailbox_type):
        total += totals
        yield row_cells(day.isoformat(), totals)
    yield row_cells(TOTAL_LABEL, total)


class _Line:
    """A file-like target for csv.writer that hands back each written line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_lines(
    account: Account, start: dt.date, end: dt.date, domain: str | None = None, mailbox_type: str | None = None
) -> Iterator[str]:
    writer = csv.writer(_Line())
    for row in rows(account, start, end, domain=domain, mailbox_type=mailbox_type):
        yield writer.writerow(row)


def filename(start: dt.date, end: dt.date, domain: str | None = None, mailbox_type: str | None = None) -> str:
    parts = ["statistics", start.isoformat(), end.isoformat()]
    parts += [part for part in (domain, mailbox_type) if part]
    # Domain names and mailbox types hold only letters, digits, dots and hyphens; keep it that way.
    return "_".join("".join(c for c in part if c.isalnum() or c in ".-") for part in parts) + ".csv"
