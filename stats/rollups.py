"""The daily aggregates and their per-account rollups, written together.

    add_volume         add counters to DailyVolume (domain × mailbox type × day) and, in the same
                       transaction, the same amounts to AccountMailboxDay and AccountDay
    subtract_domain    take a domain's DailyVolume out of the rollups before the rows go (domain deleted)
    rebuild            recompute the rollups of accounts from DailyVolume (migration backfill, bench fill)

The invariant, which the tests check after real traffic: every AccountDay row is the sum of the
account's DailyVolume rows of that day, every AccountMailboxDay row the sum over its domains. A
rollup is changed by exactly what DailyVolume changed by, so a clamped first insert (a late bounce
for a row that did not exist yet) moves both the same way.

Rows are locked in one order (the domain's volume rows by mailbox type, then the account's mailbox
rows by type, then the account's day row) so two writers of the same account cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F

from stats.models import AccountDay, AccountMailboxDay, DailyVolume

COUNTERS = DailyVolume.COUNTERS


def add_volume(domain, day: dt.date, mailbox_counts: dict[str, dict[str, int]]) -> None:
    """Add `{mailbox_type: {counter: n}}` of one domain and day to DailyVolume and the rollups."""
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
            _upsert(AccountMailboxDay, {"account_id": account_id, "mailbox_type": mailbox_type, "day": day}, delta)
            for name, n in delta.items():
                day_total[name] = day_total.get(name, 0) + n
        _upsert(AccountDay, {"account_id": account_id, "day": day}, day_total)


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


def _upsert(model, key: dict, delta: dict[str, int]) -> None:
    """One INSERT … ON CONFLICT DO UPDATE adding `delta` to the row of `key` (PostgreSQL and SQLite)."""
    delta = {name: n for name, n in delta.items() if n}
    if not delta:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*key, *COUNTERS]
    # A new row starts at the (non-negative) amounts; a decrement only ever meets an existing row.
    values = [*key.values(), *(max(delta.get(name, 0), 0) for name in COUNTERS)]
    sets = ", ".join(f"{quote(name)} = {table}.{quote(name)} + %s" for name in delta)
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {sets}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *delta.values()])


def subtract_domain(domain_id: int) -> None:
    """Take one domain's DailyVolume out of its account's rollups (called just before the rows are deleted).

    Two set-based UPDATE … FROM statements (PostgreSQL, SQLite ≥ 3.33), whatever the domain's history:
    deleting an account with a year of traffic on a thousand domains stays a few thousand statements.
    """
    quote = connection.ops.quote_name
    source = quote(DailyVolume._meta.db_table)
    sums = ", ".join(f"SUM({quote(name)}) AS {quote(name)}" for name in COUNTERS)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for model, keys in ((AccountMailboxDay, ("account_id", "mailbox_type", "day")), (AccountDay, ("account_id", "day"))):
            table = quote(model._meta.db_table)
            key_list = ", ".join(quote(k) for k in keys)
            sets = ", ".join(f"{quote(name)} = {table}.{quote(name)} - gone.{quote(name)}" for name in COUNTERS)
            matches = " AND ".join(f"{table}.{quote(k)} = gone.{quote(k)}" for k in keys)
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM (SELECT {key_list}, {sums} FROM {source} "
                f"WHERE {quote('domain_id')} = %s GROUP BY {key_list}) AS gone WHERE {matches}",
                [domain_id],
            )


def rebuild(account_ids: Iterable[int] | None = None, *, daily_volume=DailyVolume, account_day=AccountDay,
            account_mailbox_day=AccountMailboxDay, using: str = "default") -> None:
    """Recompute the rollups of the given accounts (all when None) from DailyVolume, in two INSERT … SELECT.

    The model arguments and `using` let a migration pass its historical models and its connection.
    """
    conn = connections[using]
    quote = conn.ops.quote_name
    source = quote(daily_volume._meta.db_table)
    sums = ", ".join(f"SUM({quote(name)})" for name in COUNTERS)
    counters = ", ".join(quote(name) for name in COUNTERS)
    where, params = "", []
    ids = None if account_ids is None else list(account_ids)
    if ids is not None:
        if not ids:
            return
        where = f" WHERE account_id IN ({', '.join(['%s'] * len(ids))})"
        params = ids
    with transaction.atomic(using=using), conn.cursor() as cursor:
        for model, keys in ((account_mailbox_day, ("account_id", "mailbox_type", "day")),
                            (account_day, ("account_id", "day"))):
            table = quote(model._meta.db_table)
            cursor.execute(f"DELETE FROM {table}{where}", params)
            key_list = ", ".join(quote(k) for k in keys)
            cursor.execute(
                f"INSERT INTO {table} ({key_list}, {counters}) "
                f"SELECT {key_list}, {sums} FROM {source}{where} GROUP BY {key_list}",
                params,
            )
