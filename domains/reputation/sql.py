"""The engine's own SQL, behind one seam: the statements services.py and rollups.py run by hand.

    take             a reservation's conditional write of the day row (`sent + n <= cap`) with its
                     statistics: one prepared statement on PostgreSQL, the same writes one after the
                     other elsewhere (SQLite); a Taken (what the rules read back) or None
    upsert           one INSERT … ON CONFLICT DO UPDATE adding counters to a row (PostgreSQL, SQLite)
    subtract_domain  take one domain's DailyVolume out of its account's rollups (two UPDATE … FROM)
    rebuild          recompute accounts' rollups from DailyVolume (DELETE, then INSERT … SELECT)

services.py and rollups.py say what is written and when; this module says how (docs/engine.md).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from core.prepared import execute_prepared
from domains.models import AccountDay, AccountMailboxDay, DailyVolume, DomainDay, SenderDomain
from domains.reputation.rules import COUNTER_ORDER, SIMULATOR_MAILBOX, counts_for_reputation

COUNTERS = DailyVolume.COUNTERS

# What the reservation statement reads back, in this order: the day row's counters as it left them
# and as the rules see them (rules.DayMetrics' fields; `sent` without the simulated messages, as
# metrics_of), its cap and level, the domain's level, its whole `sent` (the cap's count), then the
# account's day totals from its rollup (stats.AccountDay, written in the same statement/transaction;
# DayMetrics' fields; it holds only mail that counts for reputation).
_TOTAL_FIELDS = COUNTER_ORDER
_N = len(_TOTAL_FIELDS)


class Taken(NamedTuple):
    day: tuple[int, ...]  # the day row's counters as the rules see them, in _TOTAL_FIELDS order
    cap: int
    level: int
    sent: int  # the day row's `sent`, simulated messages included: what the cap counts
    account: tuple[int, ...] | None  # the account's day totals, in _TOTAL_FIELDS order (None: no rollup row)


def take(domain: SenderDomain, day: dt.date, n: int, counts: dict[str, int], simulated: int) -> Taken | None:
    """The conditional UPDATE (`sent + n <= cap`) of the day row and, if it matched, the statistics.

    Of the n messages, the `simulated` ones (those that do not count for reputation) are also added to the row's `simulated`,
    in the same write: the cap counts every message, the rules only the others.

    On PostgreSQL one statement: UPDATE … RETURNING, then the statistics as data-modifying CTEs that
    write only when the UPDATE returned the row (_sent_ctes), so the hot day row is locked for one
    statement when there is no outer transaction. Its text depends only on the number of mailbox types, so it is a server-side prepared statement of the connection (_execute_prepared):
    PostgreSQL parses and plans it once per connection instead of once per reservation. Elsewhere
    (SQLite) the same writes one after the other in one transaction. None when the row is missing or
    the messages do not fit.
    """
    if connection.vendor == "postgresql":
        ctes, params, _ = _sent_ctes("taken", domain, day, counts, _TOTAL_FIELDS)
        params.update(n=n, simulated=simulated, domain=domain.pk, day=day)
        found = _execute_prepared(_reservation_sql(ctes), params)
        if found is None:
            return None
        account = found[_N + 4:]
    else:
        with transaction.atomic(savepoint=False):
            with connection.cursor() as cursor:
                cursor.execute(_update_sql(), [n, n, simulated, domain.pk, day, n])
                found = cursor.fetchone()
            if found is None:
                return None
            account = _add_sent(domain, day, counts, _TOTAL_FIELDS)
    # The level the pre-checks use: the lower of the day row's (the row this statement locked, as
    # the last level change left it) and the domain's (read with the statement's snapshot). A level
    # change writes both in one transaction (check_upgrade; close_day for rows of later days): a
    # concurrent upgrade that committed after the snapshot leaves the domain's level one behind,
    # which only makes a check run that was not needed (the level only stops the upgrade rules at
    # the top level), never skips one; a concurrent downgrade shows in the locked row.
    cap, row_level, domain_level, sent = found[_N:_N + 4]
    return Taken(found[:_N], cap, min(row_level, domain_level), sent,
                 tuple(account) if account and account[0] is not None else None)


def _returning(table: str) -> str:
    """What the reservation reads back from the day row `table` (an alias or the quoted table name)."""
    quote = connection.ops.quote_name
    sent, simulated = f"{table}.{quote('sent')}", f"{table}.{quote('simulated')}"
    returned = ", ".join(
        f"{sent} - {simulated}" if name == "sent" else f"{table}.{quote(name)}"  # as metrics_of
        for name in (*_TOTAL_FIELDS, "cap", "level")
    )
    domains = quote(SenderDomain._meta.db_table)
    return (f"{returned}, (SELECT d.level FROM {domains} d WHERE d.id = {table}.domain_id) AS domain_level, "
            f"{sent} AS all_sent")


@functools.cache
def _update_sql() -> str:
    """SQLite: the day row's conditional UPDATE (parameters n, n, simulated, domain id, day, n),
    returning what _returning lists."""
    table = connection.ops.quote_name(DomainDay._meta.db_table)
    return (
        f"UPDATE {table} SET sent = sent + %s, requested = requested + %s, simulated = simulated + %s "
        f"WHERE domain_id = %s AND day = %s AND sent <= cap - %s RETURNING {_returning(table)}"
    )


@functools.cache
def _take_sql() -> str:
    """PostgreSQL: the same conditional write of the day row, as INSERT … ON CONFLICT DO UPDATE … WHERE.

    The row is proposed only when it exists (a missing row: no write, and reserve_quota creates it),
    so the statement always takes the conflict path: it locks the row's latest version and adds n
    when `sent + n <= cap` holds on that version, else returns nothing and leaves the row as it is.
    Same decision as `UPDATE … WHERE sent <= cap - n`, but when the row was written by a reservation
    that committed after this statement's snapshot (every reservation of a busy domain), PostgreSQL
    does not re-run the statement's plan on the new version (EvalPlanQual, which sets up every
    statistics CTE again): about an eighth of the statement's server time with 4 processes on one
    domain (bench/quota.py). The proposed values are never stored: a row that went between the
    existence check and the write went with its domain, whose foreign key then fails the statement.
    Parameters %(n)s, %(simulated)s (how many of the n are simulated: reserve_quota), %(domain)s,
    %(day)s, cast so one plan serves whatever Python types they come as.
    """
    quote = connection.ops.quote_name
    table = quote(DomainDay._meta.db_table)
    # With domain_id, day, level and cap: every NOT NULL column, as an INSERT needs.
    counters = (*DomainDay.COUNTERS, "simulated")
    columns = ", ".join(quote(name) for name in ("domain_id", "day", *counters, "level", "cap"))
    zeros = ", ".join("0" for _ in counters)
    n, simulated = "%(n)s::bigint", "%(simulated)s::bigint"
    domain, day = "%(domain)s::bigint", "%(day)s::date"
    return (
        f"INSERT INTO {table} AS dd ({columns}) SELECT {domain}, {day}, {zeros}, 1, 0 "
        f"WHERE EXISTS (SELECT FROM {table} WHERE domain_id = {domain} AND day = {day}) "
        f"ON CONFLICT (domain_id, day) DO UPDATE SET sent = dd.sent + {n}, requested = dd.requested + {n}, "
        f"simulated = dd.simulated + {simulated} "
        f"WHERE dd.sent <= dd.cap - {n} RETURNING {_returning('dd')}"
    )


@functools.lru_cache(maxsize=16)
def _reservation_sql(ctes: str) -> str:
    """The whole PostgreSQL statement around the statistics CTEs (one text per number of mailbox types)."""
    quote = connection.ops.quote_name
    return (
        f"WITH taken AS ({_take_sql()}), {ctes} "
        f"SELECT taken.*, {', '.join(f't.{quote(f)}' for f in _TOTAL_FIELDS)} "
        f"FROM taken LEFT JOIN vol_account t ON TRUE"
    )


def _execute_prepared(sql: str, params: dict) -> tuple | None:
    """Run `sql` as a server-side prepared statement of the default connection
    (core.prepared.execute_prepared); its first row, None without one."""
    rows = execute_prepared(DEFAULT_DB_ALIAS, sql, params)
    return rows[0] if rows else None


def upsert(model, key: dict, delta: dict[str, int], *, also: dict | None = None,
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


def _add_sent(domain, day: dt.date, counts: dict[str, int], returning: tuple[str, ...]) -> tuple | None:
    """SQLite: a reservation's `{mailbox_type: n}`: n more requested and sent on each row, as
    rollups.add_volume would add them (same rows, same lock order), but only increments, so each row is one upsert and no clamp applies.

    Returns the `returning` counters of the account's day row as this write left it (the caller's
    transaction holds that row's lock, so they are the account's totals at this moment); None when
    none of the messages counts for reputation (the row is not written)."""
    with transaction.atomic(savepoint=False):
        for mailbox_type in sorted(counts):
            upsert(DailyVolume, {"domain_id": domain.pk, "mailbox_type": mailbox_type, "day": day},
                   {"requested": counts[mailbox_type], "sent": counts[mailbox_type]},
                   also={"account_id": domain.account_id})
        for mailbox_type in sorted(counts):
            upsert(AccountMailboxDay, {"account_id": domain.account_id, "mailbox_type": mailbox_type, "day": day},
                   {"requested": counts[mailbox_type], "sent": counts[mailbox_type]})
        total = sum(n for mailbox_type, n in counts.items() if counts_for_reputation(mailbox_type))
        return upsert(AccountDay, {"account_id": domain.account_id, "day": day},
                      {"requested": total, "sent": total}, returning=returning)


def _sent_ctes(after: str, domain, day: dt.date, counts: dict[str, int], returning: tuple[str, ...]) -> tuple[str, dict, str]:
    """_add_sent as PostgreSQL data-modifying CTEs that write only if the CTE `after` returned a row.

    Returns (the CTE list to put after `after`'s, its named parameters — all named `vol_…` — and the
    name of the CTE returning the account day row's `returning` counters, which returns no row when
    none of the messages counts for reputation, as _add_sent). Each CTE reads the one
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
