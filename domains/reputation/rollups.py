"""The daily aggregates and their per-account rollups, written together.

    add_volume         add counters to DailyVolume (domain × mailbox type × day) and, in the same
                       transaction, the same amounts to AccountMailboxDay and AccountDay
    subtract_domain    take a domain's DailyVolume out of the rollups before the rows go (domain deleted)
    rebuild            recompute the rollups of accounts from DailyVolume (migration backfill, bench fill)
    add_sent           a quota reservation's `requested`/`sent` (only increments): one upsert per row,
                       returns the account's day counters after the write
    sent_ctes          the same writes as data-modifying CTEs chained after a reservation's UPDATE, so
                       PostgreSQL does the reservation and all its statistics in one statement

The invariant, which the tests check after real traffic: every AccountDay row is the sum of the
account's DailyVolume rows of that day whose mailbox type counts for reputation (all but the
mailbox simulator's when its mail does not count: domains.reputation.rules.counts_for_reputation),
so the freeze rules can read it as the account's day totals; every AccountMailboxDay row is the sum
over its domains, of every mailbox type (the simulator's too: statistics show it apart). A
rollup is changed by exactly what DailyVolume changed by, so a clamped first insert (a late bounce
for a row that did not exist yet) moves both the same way.

Rows are locked in one order (the domain's volume rows by mailbox type, then the account's mailbox
rows by type, then the account's day row) so two writers of the same account cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable

from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F

from domains.models import AccountDay, AccountMailboxDay, DailyVolume
from domains.reputation.rules import SIMULATOR_MAILBOX, counts_for_reputation

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
            _upsert(AccountMailboxDay, {"account_id": account_id, "mailbox_type": mailbox_type, "day": day}, delta)
            if not counts_for_reputation(mailbox_type):
                continue
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


def _upsert(model, key: dict, delta: dict[str, int], *, also: dict | None = None,
            returning: tuple[str, ...] = ()) -> tuple | None:
    """One INSERT … ON CONFLICT DO UPDATE adding `delta` to the row of `key` (PostgreSQL and SQLite).

    `also` are columns set only when the row is created; `returning` columns are read back from the
    row as written (None when there was nothing to add)."""
    delta = {name: n for name, n in delta.items() if n}
    if not delta:
        return None
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    also = also or {}
    columns = [*key, *also, *COUNTERS]
    # A new row starts at the (non-negative) amounts; a decrement only ever meets an existing row.
    values = [*key.values(), *also.values(), *(max(delta.get(name, 0), 0) for name in COUNTERS)]
    sets = ", ".join(f"{quote(name)} = {table}.{quote(name)} + %s" for name in delta)
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {sets}"
    )
    if returning:
        sql += " RETURNING " + ", ".join(quote(name) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *delta.values()])
        return cursor.fetchone() if returning else None


def add_sent(domain, day: dt.date, counts: dict[str, int], returning: tuple[str, ...]) -> tuple | None:
    """A reservation's `{mailbox_type: n}`: n more requested and sent on each row, as add_volume would add
    them (same rows, same lock order), but only increments, so each row is one upsert and no clamp applies.

    Returns the `returning` counters of the account's day row as this write left it (the caller's
    transaction holds that row's lock, so they are the account's totals at this moment); None when
    none of the messages counts for reputation (the row is not written)."""
    with transaction.atomic(savepoint=False):
        for mailbox_type in sorted(counts):
            _upsert(DailyVolume, {"domain_id": domain.pk, "mailbox_type": mailbox_type, "day": day},
                    {"requested": counts[mailbox_type], "sent": counts[mailbox_type]},
                    also={"account_id": domain.account_id})
        for mailbox_type in sorted(counts):
            _upsert(AccountMailboxDay, {"account_id": domain.account_id, "mailbox_type": mailbox_type, "day": day},
                    {"requested": counts[mailbox_type], "sent": counts[mailbox_type]})
        total = sum(n for mailbox_type, n in counts.items() if counts_for_reputation(mailbox_type))
        return _upsert(AccountDay, {"account_id": domain.account_id, "day": day},
                       {"requested": total, "sent": total}, returning=returning)


def sent_ctes(after: str, domain, day: dt.date, counts: dict[str, int], returning: tuple[str, ...]) -> tuple[str, dict, str]:
    """add_sent as PostgreSQL data-modifying CTEs that write only if the CTE `after` returned a row.

    Returns (the CTE list to put after `after`'s, its named parameters — all named `vol_…` — and the
    name of the CTE returning the account day row's `returning` counters, which returns no row when
    none of the messages counts for reputation, as add_sent). Each CTE reads the one
    before, so the rows are locked in add_volume's order: the domain's volume rows by mailbox type,
    the account's mailbox rows by type, then the account's day row.

    The SQL text depends only on `after`, the number of mailbox types and `returning` (never on the
    domain, the day or the counts, which are all parameters, each named once however often the SQL
    uses it), so it is built once per shape and a caller can keep it as a prepared statement.
    """
    params = {"vol_account": domain.account_id, "vol_domain": domain.pk, "vol_day": day}
    for i, mailbox_type in enumerate(sorted(counts)):
        params[f"vol_type{i}"] = mailbox_type
        params[f"vol_n{i}"] = counts[mailbox_type]
        params[f"vol_counted{i}"] = counts_for_reputation(mailbox_type)
    return _sent_ctes_sql(after, len(counts), tuple(returning)), params, "vol_account"


@functools.lru_cache(maxsize=64)
def _sent_ctes_sql(after: str, n_types: int, returning: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    volume, mailbox, account_day = (quote(m._meta.db_table) for m in (DailyVolume, AccountMailboxDay, AccountDay))
    others = [name for name in COUNTERS if name not in ("requested", "sent")]
    zeros = ", ".join("0" for _ in others)
    other_columns = ", ".join(quote(name) for name in others)
    sets = {table: ", ".join(f"{quote(c)} = {table}.{quote(c)} + EXCLUDED.{quote(c)}" for c in ("requested", "sent"))
            for table in (volume, mailbox, account_day)}
    rows = ", ".join(f"(%(vol_type{i})s::text, %(vol_n{i})s::bigint, %(vol_counted{i})s::boolean)"
                     for i in range(n_types))
    mt = quote("mailbox_type")
    account, domain, day = "%(vol_account)s::bigint", "%(vol_domain)s::bigint", "%(vol_day)s::date"
    return (
        f"vol_counts ({mt}, n, counted) AS (VALUES {rows}), "
        f"vol_volume AS (INSERT INTO {volume} (account_id, domain_id, {mt}, day, requested, sent, {other_columns}) "
        f"SELECT {account}, {domain}, c.{mt}, {day}, c.n, c.n, {zeros} FROM {after} CROSS JOIN vol_counts c "
        f"ORDER BY c.{mt} "
        f"ON CONFLICT (domain_id, {mt}, day) DO UPDATE SET {sets[volume]} RETURNING {volume}.{mt}), "
        f"vol_mailbox AS (INSERT INTO {mailbox} (account_id, {mt}, day, requested, sent, {other_columns}) "
        f"SELECT {account}, c.{mt}, {day}, c.n, c.n, {zeros} FROM vol_volume v JOIN vol_counts c USING ({mt}) "
        f"ORDER BY c.{mt} "
        f"ON CONFLICT (account_id, {mt}, day) DO UPDATE SET {sets[mailbox]} RETURNING {mailbox}.{mt}), "
        f"vol_account AS (INSERT INTO {account_day} (account_id, day, requested, sent, {other_columns}) "
        f"SELECT {account}, {day}, SUM(c.n), SUM(c.n), {zeros} FROM vol_mailbox m JOIN vol_counts c USING ({mt}) "
        f"WHERE c.counted HAVING COUNT(*) > 0 "
        f"ON CONFLICT (account_id, day) DO UPDATE SET {sets[account_day]} "
        f"RETURNING {', '.join(f'{account_day}.{quote(name)}' for name in returning)})"
    )


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
            where, params = _counted_only(model, quote)
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM (SELECT {key_list}, {sums} FROM {source} "
                f"WHERE {quote('domain_id')} = %s{where} GROUP BY {key_list}) AS gone WHERE {matches}",
                [domain_id, *params],
            )


def _counted_only(model, quote) -> tuple[str, list]:
    """The condition (` AND …`, its parameters) that keeps a rollup's sums to the DailyVolume rows it
    holds: AccountDay only the mailbox types that count for reputation (rules.counts_for_reputation:
    all but SIMULATOR_MAILBOX), AccountMailboxDay all of them."""
    if model._meta.db_table != AccountDay._meta.db_table:
        return "", []
    return f" AND {quote('mailbox_type')} <> %s", [SIMULATOR_MAILBOX]


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
            counted, counted_params = _counted_only(model, quote)
            if counted and not where:
                counted = " WHERE" + counted[len(" AND"):]
            cursor.execute(
                f"INSERT INTO {table} ({key_list}, {counters}) "
                f"SELECT {key_list}, {sums} FROM {source}{where}{counted} GROUP BY {key_list}",
                [*params, *counted_params],
            )
