"""The engine's daily aggregates and their per-account rollups, written together.

    add_volume         add counters to DailyVolume (domain × mailbox type × day) and, in the same
                       transaction, the same amounts to AccountMailboxDay and AccountDay
    subtract_domain    take a domain's DailyVolume out of the rollups before the rows go (domain deleted)
    rebuild            recompute the rollups of accounts from DailyVolume (migration backfill, bench fill)

A reservation's own writes to the same rows are part of its statement (sql.take). The invariant
the rollups keep and the order rows are locked in: docs/engine.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F

from domains.models import AccountDay, AccountMailboxDay, DailyVolume
from domains.reputation import sql
from domains.reputation.rules import counts_for_reputation

COUNTERS = DailyVolume.COUNTERS


def add_volume(domain, day: dt.date, mailbox_counts: dict[str, dict[str, int]]) -> None:
    """Add `{mailbox_type: {counter: n}}` of one domain and day to DailyVolume and the rollups (to
    AccountDay only the mailbox types that count for reputation)."""
    applied: dict[str, dict[str, int]] = {}
    with transaction.atomic(savepoint=False):
        for mailbox_type in sorted(mailbox_counts):
            increments = {name: n for name, n in mailbox_counts[mailbox_type].items() if n}
            if increments:
                applied[mailbox_type] = _add_daily_volume(domain, day, mailbox_type, increments)
        if not applied:
            return
        account_id = domain.account_id
        day_total: dict[str, int] = {}
        for mailbox_type, delta in applied.items():
            sql.upsert(AccountMailboxDay, {"account_id": account_id, "mailbox_type": mailbox_type, "day": day}, delta)
            if not counts_for_reputation(mailbox_type):
                continue
            for name, n in delta.items():
                day_total[name] = day_total.get(name, 0) + n
        sql.upsert(AccountDay, {"account_id": account_id, "day": day}, day_total)


def _add_daily_volume(domain, day: dt.date, mailbox_type: str, increments: dict[str, int]) -> dict[str, int]:
    """Add to one DailyVolume row; returns what the row actually changed by."""
    updates = {name: F(name) + n for name, n in increments.items()}
    rows = DailyVolume.objects.filter(domain=domain, mailbox_type=mailbox_type, day=day)
    if rows.update(**updates):
        return increments
    created = {name: max(n, 0) for name, n in increments.items()}
    try:
        with transaction.atomic():
            DailyVolume.objects.create(
                account_id=domain.account_id, domain=domain, mailbox_type=mailbox_type, day=day, **created
            )
        return created
    except IntegrityError:  # created by a concurrent writer between our update and our insert
        rows.update(**updates)
        return increments


def subtract_domain(domain_id: int) -> None:
    """Take one domain's DailyVolume out of its account's rollups (called just before the rows are
    deleted): two set-based statements whatever the domain's history (sql.subtract_domain)."""
    sql.subtract_domain(domain_id)


def rebuild(account_ids: Iterable[int] | None = None, *, daily_volume=DailyVolume, account_day=AccountDay,
            account_mailbox_day=AccountMailboxDay, using: str = "default") -> None:
    """Recompute the rollups of the given accounts (all when None) from DailyVolume (sql.rebuild).

    The model arguments and `using` let a migration pass its historical models and its connection.
    """
    sql.rebuild(account_ids, daily_volume=daily_volume, account_day=account_day,
                account_mailbox_day=account_mailbox_day, using=using)
