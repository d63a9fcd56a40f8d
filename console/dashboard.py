"""The account's home page in numbers: today's sends against each cap, the freeze, paused tasks, the week's rates.

Everything reads counters and aggregates (DomainDay, DailyVolume), never message rows, and only
the given account's rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

from accounts.models import Account, AccountFreeze
from batches.models import BatchTask
from core.clock import platform_today
from domains.models import DomainDay, SenderDomain
from domains.progress import format_percent
from domains.reputation import wording
from domains.reputation.services import domains_today
from stats import queries

RATE_DAYS = 7


@dataclass(frozen=True)
class DomainToday:
    domain: SenderDomain
    today: DomainDay | None
    sent: int
    cap: int
    pending_downgrade: str | None

    @property
    def remaining(self) -> int:
        return max(self.cap - self.sent, 0)

    @property
    def percent_of_cap(self) -> str:
        return format_percent(Fraction(self.sent * 100, self.cap) if self.cap else Fraction(0))


@dataclass(frozen=True)
class Rate:
    metric: str
    label: str
    of: str
    value: Fraction

    @property
    def text(self) -> str:
        return format_percent(self.value)


@dataclass(frozen=True)
class Dashboard:
    today: dt.date
    domains: list[DomainToday]
    freeze: AccountFreeze | None
    paused_tasks: list[BatchTask]
    rate_start: dt.date
    week: queries.Totals
    rates: list[Rate]

    @property
    def sent_today(self) -> int:
        return sum(d.sent for d in self.domains)

    @property
    def cap_today(self) -> int:
        return sum(d.cap for d in self.domains)


def dashboard_for(account: Account) -> Dashboard:
    today = platform_today()
    domains = [
        DomainToday(domain, row, row.sent if row else 0, row.cap if row else domain.daily_cap, downgrade)
        for domain, row, downgrade in domains_today(account)
    ]
    paused = list(
        BatchTask.objects.filter(account=account, status=BatchTask.PAUSED)
        .select_related("domain", "receiver_list")
        .order_by("resume_at", "pk")
    )
    start = today - dt.timedelta(days=RATE_DAYS - 1)
    week = queries.overall(account, start, today)
    values = week.rates()
    return Dashboard(
        today=today,
        domains=domains,
        freeze=account.active_freeze(),
        paused_tasks=paused,
        rate_start=start,
        week=week,
        rates=[Rate(metric, label, of, values[metric]) for metric, label, of in wording.RATES],
    )
