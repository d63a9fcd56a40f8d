"""Statistics read from the daily aggregates, never from messages.

Every function takes the account first and reads only that account's rows: a domain or mailbox
type of another account simply matches nothing. `daily_volumes` is one GROUP BY day query; the
days without traffic are filled with zeros here, so a chart or a CSV always has every day.

Which table answers depends on the filter (domains.reputation.rollups keeps them equal):
    no filter              AccountDay         one row per day
    mailbox type only      AccountMailboxDay  one row per day
    a sender domain        DailyVolume        that domain's rows (one per mailbox type and day)

Mail that does not count for reputation (the mailbox simulator's, SES_SIMULATOR_COUNTS_FOR_REPUTATION
off) has the mailbox type "simulator" (domains.reputation.rules.SIMULATOR_MAILBOX): it is shown
apart, under that type, and is in no other figure, so the rates shown are the rates the rules read.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from types import MappingProxyType

from django.db import connection
from django.db.models import Q, QuerySet, Sum

from accounts.models import Account
from core.prepared import execute_prepared
from domains.models import AccountDay, AccountMailboxDay, DailyVolume
from domains.reputation.rules import SIMULATOR_MAILBOX, DayMetrics, metric_values

# Totals field -> DailyVolume counter. "accepted" is what counted against a cap: the `sent` counter.
COUNTERS = {
    "requested": "requested",
    "accepted": "sent",
    "delivered": "delivered",
    "opened": "opened",
    "clicked": "clicked",
    "bounced": "bounced",
    "unsubscribed": "unsubscribed",
    "invalid": "invalid",
    "spam": "spam",
    "complaints": "complaints",
}
RATES = ("invalid_rate", "delivery_rate", "spam_rate", "complaint_rate", "open_rate")


@dataclass(frozen=True)
class Totals:
    requested: int = 0
    accepted: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0  # other bounces only; `bounces` adds invalid and spam
    unsubscribed: int = 0
    invalid: int = 0
    spam: int = 0
    complaints: int = 0

    @property
    def bounces(self) -> int:
        """Every bounce, as the API's BounceCount counts them: invalid, spam and other."""
        return self.invalid + self.spam + self.bounced

    def __add__(self, other: Totals) -> Totals:
        return Totals(*map(operator.add, _counts(self), _counts(other)))

    @staticmethod
    def sum(items: Iterable[Totals]) -> Totals:
        """The sum of many Totals (Totals() for none), without an intermediate Totals per addition."""
        return Totals(*map(sum, zip(*map(_counts, items), strict=True)))

    def rates(self) -> Mapping[str, Fraction]:
        """The five rates of SPEC §3.1 in percent, exact; the same arithmetic the reputation rules use.

        Worked out once per Totals (it is immutable): the table, the chart and the CSV all ask.
        The mapping handed back is shared, and read-only.
        """
        cached = self.__dict__.get("_rates")
        if cached is None:
            cached = self.__dict__["_rates"] = _rates(
                self.accepted, self.delivered, self.invalid, self.spam, self.complaints, self.opened
            )
        return cached

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _rates(sent: int, delivered: int, invalid: int, spam: int, complaints: int, opened: int) -> Mapping[str, Fraction]:
    values = metric_values(
        DayMetrics(sent=sent, delivered=delivered, invalid=invalid, spam=spam, complaints=complaints, opened=opened)
    )
    return MappingProxyType({name: values[name] for name in RATES})  # shared: read-only


def _rows(account: Account, start: dt.date, end: dt.date, domain: str | None, mailbox_type: str | None) -> QuerySet:
    if domain:
        rows = DailyVolume.objects.filter(account=account, day__gte=start, day__lte=end)
        # By name, inside the account: another account's domain name matches no row here.
        rows = rows.filter(domain__name=domain_key(domain))
        if mailbox_type:
            return rows.filter(mailbox_type=mailbox_type_key(account, mailbox_type))
        return rows.exclude(mailbox_type=SIMULATOR_MAILBOX)  # as AccountDay: apart
    if mailbox_type:
        return AccountMailboxDay.objects.filter(
            account=account, mailbox_type=mailbox_type_key(account, mailbox_type), day__gte=start, day__lte=end
        )
    return AccountDay.objects.filter(account=account, day__gte=start, day__lte=end)


# Totals' fields in their declared order (the positional order of Totals(...)).
TOTALS_ORDER = tuple(f.name for f in fields(Totals))
_counts = operator.attrgetter(*TOTALS_ORDER)
# A day without traffic: one Totals for all of them (it is immutable; its rates are worked out once).
_NOTHING = Totals()


def _sums() -> dict[str, Sum]:
    return {name: Sum(counter) for name, counter in COUNTERS.items()}


def _totals(row: dict) -> Totals:
    return Totals(**{name: int(row.get(name) or 0) for name in COUNTERS})


def daily_volumes(
    account: Account, start: dt.date, end: dt.date, domain: str | None = None, mailbox_type: str | None = None
) -> list[tuple[dt.date, Totals]]:
    """Every day from start to end inclusive with its totals (zeros for a day without traffic)."""
    if domain:
        columns, where = _domain_sql(bool(mailbox_type))
        with connection.cursor() as cursor:
            cursor.execute(f"WITH {_chosen_cte()} SELECT {columns} {where}",
                           [*_chosen_params(account, domain),
                            *_range_params(account, start, end, mailbox_type, domain=True)])
            by_day = _by_day(cursor.fetchall())
    else:
        by_day = _rollup_days(account, start, end, mailbox_type)
    return _days(start, end, by_day)


def _domain_sql(mailbox_type: bool) -> tuple[str, str]:
    """One sender domain's rows of a range summed by day: (columns, FROM … GROUP BY day), under
    `WITH` _chosen_cte(), which finds the named domain inside the account.

    The rows are read by the domain's id on DailyVolume's (domain, mailbox type, day) index, without
    a join; another account's domain name finds no id and so no row.
    """
    quote = connection.ops.quote_name
    columns = ", ".join([quote("day")] + [f"SUM({quote(COUNTERS[name])})" for name in TOTALS_ORDER])
    # The account is checked twice: the domain must be the account's, and so must each row (a row
    # carries its domain's account). The rows' check is written `account_id + 0` so that no index
    # can serve it: planned once for every account and range (a prepared statement), PostgreSQL
    # would otherwise AND the (account, day) index into the read, every domain's rows of the range
    # (300,000 index entries for 1,000 domains over 30 days) to keep one domain's 300.
    where = (f"FROM {quote(DailyVolume._meta.db_table)} "
             f"WHERE {quote('domain_id')} = (SELECT id FROM chosen) AND {quote('account_id')} + 0 = %s "
             f"AND {quote('day')} >= %s AND {quote('day')} <= %s")
    # Without a mailbox type, every type but the one shown apart (SIMULATOR_MAILBOX), as AccountDay.
    where += f" AND {quote('mailbox_type')} {'=' if mailbox_type else '<>'} %s"
    return columns, where + f" GROUP BY {quote('day')}"


def _chosen_cte() -> str:
    """`chosen(id)`: the named sender domain if it is the account's, else no row (parameters:
    _chosen_params)."""
    from domains.models import SenderDomain

    quote = connection.ops.quote_name
    return (f"chosen(id) AS (SELECT {quote('id')} FROM {quote(SenderDomain._meta.db_table)} "
            f"WHERE {quote('name')} = %s AND {quote('account_id')} = %s)")


def _chosen_params(account: Account, domain: str) -> list:
    return [domain_key(domain), account.pk]


def _rollup_sql(mailbox_type: str | None) -> tuple[str, str]:
    """The rollup's rows of a range (no GROUP BY: one row per day already): (columns, FROM … WHERE …)."""
    model = AccountMailboxDay if mailbox_type else AccountDay
    quote = connection.ops.quote_name
    columns = ", ".join([quote("day")] + [quote(COUNTERS[name]) for name in TOTALS_ORDER])
    where = (f"FROM {quote(model._meta.db_table)} "
             f"WHERE {quote('account_id')} = %s AND {quote('day')} >= %s AND {quote('day')} <= %s")
    if mailbox_type:
        where += f" AND {quote('mailbox_type')} = %s"
    return columns, where


def _range_params(account: Account, start: dt.date, end: dt.date, mailbox_type: str | None, *,
                  domain: bool = False) -> list:
    """The parameters of _domain_sql's (`domain`) and _rollup_sql's WHERE: account, first and last
    day, and the mailbox type when there is one (for _domain_sql without one: the type it leaves out)."""
    adapt = connection.ops.adapt_datefield_value
    params = [account.pk, adapt(start), adapt(end)]
    if mailbox_type:
        params.append(mailbox_type_key(account, mailbox_type))
    elif domain:
        params.append(SIMULATOR_MAILBOX)
    return params


def _by_day(rows) -> dict[dt.date, Totals]:
    return {
        (day if isinstance(day, dt.date) else dt.date.fromisoformat(day)): Totals(*map(int, counts))
        for day, *counts in rows
    }


def _rollup_days(account: Account, start: dt.date, end: dt.date, mailbox_type: str | None) -> dict[dt.date, Totals]:
    """A rollup has one row per day already: read it as it is (no GROUP BY), in plain SQL, as this is
    the query of every unfiltered statistics page and GetStatisticsReport."""
    columns, where = _rollup_sql(mailbox_type)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} {where}", _range_params(account, start, end, mailbox_type))
        return _by_day(cursor.fetchall())


def _days(start: dt.date, end: dt.date, by_day: dict[dt.date, Totals]) -> list[tuple[dt.date, Totals]]:
    days = (end - start).days + 1
    return [(day, by_day.get(day, _NOTHING)) for day in (start + dt.timedelta(n) for n in range(max(days, 0)))]


@dataclass(frozen=True)
class PageFigures:
    """What the statistics page shows, read in one statement (statistics_page)."""

    daily: list[tuple[dt.date, Totals]]
    mailbox_types: list[str] | None  # None when not asked for
    domain_known: bool  # the domain filter names one of the account's domains (True without one)


def statistics_page(
    account: Account, start: dt.date, end: dt.date, domain: str | None = None, mailbox_type: str | None = None,
    *, with_mailbox_types: bool = True,
) -> PageFigures:
    """daily_volumes, mailbox_types (when asked) and whether `domain` is one of the account's sender
    domains, in one statement: the statistics page's one trip to the database, filtered or not.

    A domain that is not the account's (another account's, a typo) has no rows and is not known.
    """
    width = 1 + len(TOTALS_ORDER)
    sql = _page_sql(bool(domain), bool(mailbox_type), with_mailbox_types)
    params = [account.pk, account.pk] if with_mailbox_types else []  # _TYPES_CTE's
    if domain:
        params += [*_chosen_params(account, domain), *_range_params(account, start, end, mailbox_type, domain=True)]
    else:
        params += _range_params(account, start, end, mailbox_type)
    rows = _fetchall_planned_once(sql, params)
    # Figures have a day; a mailbox type has its name and place; the domain's mark has neither.
    figures = [row[:width] for row in rows if row[0] is not None]
    marks = [row for row in rows if row[0] is None]
    types = None
    if with_mailbox_types:
        types = [row[width] for row in sorted((row for row in marks if row[width] is not None),
                                              key=lambda row: row[width + 1])]
    known = not domain or any(row[width] is None for row in marks)
    return PageFigures(_days(start, end, _by_day(figures)), types, known)


def _fetchall_planned_once(sql: str, params: list) -> list[tuple]:
    """The rows of `sql`; on PostgreSQL as a server-side prepared statement of the connection, so
    the page's statement is planned once per connection (planning it took the server about as long
    as running it): core.prepared.execute_prepared."""
    if connection.vendor == "postgresql":
        return execute_prepared(connection.alias, sql, params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_PAGE_SQL: dict[tuple[bool, bool, bool], str] = {}


def _page_sql(domain: bool, mailbox_type: bool, with_types: bool) -> str:
    """statistics_page's statement, built once per shape. Its rows: the figures (day, counters, NULL,
    NULL); with_types, each mailbox type (NULLs, name, place); with a domain that is the account's,
    one mark (NULLs, NULL, -1)."""
    key = (domain, mailbox_type, with_types)
    sql = _PAGE_SQL.get(key)
    if sql is None:
        columns, where = _domain_sql(mailbox_type) if domain else _rollup_sql(mailbox_type)
        nulls = ", ".join(["NULL"] * (1 + len(TOTALS_ORDER)))
        ctes = ([_TYPES_CTE] if with_types else []) + ([_chosen_cte()] if domain else [])
        sql = f"WITH RECURSIVE {', '.join(ctes)} " if ctes else ""
        sql += f"SELECT {columns}, NULL, NULL {where}"
        if with_types:
            sql += f" UNION ALL SELECT {nulls}, name, n FROM types WHERE name IS NOT NULL"
        if domain:
            sql += f" UNION ALL SELECT {nulls}, NULL, -1 FROM chosen"
        _PAGE_SQL[key] = sql
    return sql


def overall(
    account: Account, start: dt.date, end: dt.date, domain: str | None = None, mailbox_type: str | None = None
) -> Totals:
    return _totals(_rows(account, start, end, domain, mailbox_type).aggregate(**_sums()))


def mailbox_types(account: Account) -> list[str]:
    """The recipient domains the account has sent to, in order.

    A plain DISTINCT reads every row of the account's rollup (types × days); this walks its
    (account, mailbox_type, day) unique index instead, one probe per distinct type.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"WITH RECURSIVE {_TYPES_CTE} SELECT name FROM types WHERE name IS NOT NULL ORDER BY n",
                       [account.pk, account.pk])
        return [name for (name,) in cursor.fetchall()]


# The account's distinct mailbox types, one index probe each (parameters: the account twice).
# `n` numbers them in that order.
_TYPES_CTE = """types(name, n) AS (
    SELECT MIN(mailbox_type), 0 FROM {table} WHERE account_id = %s
    UNION ALL
    SELECT (SELECT MIN(mailbox_type) FROM {table} WHERE account_id = %s AND mailbox_type > types.name), n + 1
    FROM types WHERE types.name IS NOT NULL
)""".format(table=f'"{AccountMailboxDay._meta.db_table}"')


def domain_names(account: Account, containing: str = "", limit: int | None = None) -> list[str]:
    """The account's sender domains (including one that has not sent yet) in order, optionally only
    those whose name contains `containing`, at most `limit` of them."""
    from core.addresses import address_search_texts
    from domains.models import SenderDomain

    names = SenderDomain.objects.filter(account=account).order_by("name").values_list("name", flat=True)
    if containing.strip():
        # Names are stored as IDNA A-labels: a typed `bücher` finds `xn--bcher-kva.example`.
        wanted = Q()
        for text in address_search_texts(containing):
            wanted |= Q(name__contains=text.lower())
        names = names.filter(wanted)
    return list(names[:limit] if limit else names)


def domain_key(name: str) -> str:
    """A domain name (a sender domain, a mailbox type) as it is stored: lower-case, a non-ASCII one
    as its IDNA A-label (IDNA 2008 + UTS #46, as domains.services and core.addresses store them:
    `Bücher.example` → `xn--bcher-kva.example`); lower-cased as typed when IDNA refuses it (it then
    matches nothing)."""
    from core.addresses import NotAsciiAddress, domain_to_ascii

    name = name.strip().lower()
    try:
        return domain_to_ascii(name)
    except NotAsciiAddress:
        return name


class StoredMailboxType(str):
    """A mailbox type exactly as the account's rows store it (one of mailbox_types' names, e.g. a
    choice the statistics form checked against them): mailbox_type_key does not convert it."""

    __slots__ = ()


def mailbox_type_key(account: Account, mailbox_type: str) -> str:
    """The stored mailbox type a filter means.

    A StoredMailboxType is used as it is: rows written before non-ASCII domains were stored as IDNA
    A-labels keep `bücher.example`, which the statistics form offers and must find. Typed text (the
    API's ReceivingMailboxType) is lower-cased; a non-ASCII one that is not a type of the account's
    rows as typed becomes its A-label (domain_key: `Bücher.example` → `xn--bcher-kva.example`)."""
    if isinstance(mailbox_type, StoredMailboxType):
        return str(mailbox_type)
    name = mailbox_type.strip().lower()
    if name.isascii() or AccountMailboxDay.objects.filter(account=account, mailbox_type=name).exists():
        return name
    return domain_key(name)


def has_domain(account: Account, name: str) -> bool:
    from domains.models import SenderDomain

    return SenderDomain.objects.filter(account=account, name=domain_key(name)).exists()
