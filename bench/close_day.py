"""Closing a day: seconds for close_due_days (what tick runs) over 10,000 and 100,000 domains with counters.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sesconsole_bench_close_day \
        .venv/bin/python bench/close_day.py [--sizes 10000,100000] [--rounds 3] [--quick] [--json-out FILE]

Creates the database if missing and migrates it. THE DATABASE IS EMPTIED of domains (TRUNCATE …
CASCADE) before each run: give it one of its own. For each round and each size, alternating: it
creates that many verified domains (100 per account, levels 2–20) and fills yesterday's DomainDay
of each by PostgreSQL COPY: every domain sent 400–1,399 messages, and one in 20 has an invalid rate
over 9% (rule D1: it goes down a level). Then it times domains.reputation.services.close_due_days(),
the function the periodic `close_days` job calls: every row evaluated, the downgrades written
with their level changes, next days' rows re-capped, the members notified, the day marked closed.
Reports the median seconds of each size and the ratio of the largest to the smallest (goal: no
more than the ratio of their sizes plus 20%, i.e. 100k/10k ≤ 12: linear).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import median, require_postgres, row, setup_path, write_rows  # noqa: E402

setup_path()

DOMAINS_PER_ACCOUNT = 100
BAD_EVERY = 20  # one domain in 20 meets D1


def fill(n: int, day: dt.date) -> None:
    """Empty the domain tables, then n verified domains and their counters for `day`."""
    from django.db import connection, transaction

    from accounts.models import Account
    from domains.models import DomainDay, SenderDomain
    from domains.reputation import levels

    with connection.cursor() as cursor:
        tables = [SenderDomain._meta.db_table, DomainDay._meta.db_table, "domains_levelchange", "domains_closedday",
                  "accounts_accountfreeze", Account._meta.db_table]
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    accounts = Account.objects.bulk_create(
        Account(name=f"close bench {i}") for i in range((n + DOMAINS_PER_ACCOUNT - 1) // DOMAINS_PER_ACCOUNT)
    )
    domains = []
    for i in range(n):
        domains.append(SenderDomain(
            account=accounts[i // DOMAINS_PER_ACCOUNT], name=f"d{i}.close.bench.example", status=SenderDomain.VERIFIED,
            level=2 + i % 19, dkim_private_key_encrypted="-", dkim_public_key="-",
        ))
    SenderDomain.objects.bulk_create(domains, batch_size=5000)
    columns = ("domain_id", "day", "level", "cap", *DomainDay.COUNTERS)
    buffer = io.StringIO()
    for i, domain in enumerate(domains):
        sent = 400 + (i * 37) % 1000
        invalid = sent // 8 if i % BAD_EVERY == 0 else sent // 50
        delivered = sent - invalid - sent // 100
        counters = {"requested": sent, "sent": sent, "delivered": delivered, "invalid": invalid, "spam": 0,
                    "bounced": sent // 100, "complaints": 0, "opened": delivered // 3, "clicked": delivered // 10,
                    "unsubscribed": 0}
        values = (domain.pk, day.isoformat(), domain.level, levels.cap_for(domain.level, None),
                  *(counters[name] for name in DomainDay.COUNTERS))
        buffer.write("\t".join(str(v) for v in values) + "\n")
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {DomainDay._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {SenderDomain._meta.db_table}, {DomainDay._meta.db_table}")


def measure(n: int) -> tuple[float, int, int]:
    from core.clock import platform_today
    from domains.models import DomainDay
    from domains.reputation.services import close_due_days

    yesterday = platform_today() - dt.timedelta(days=1)
    fill(n, yesterday)
    started = time.perf_counter()
    closed = close_due_days()
    seconds = time.perf_counter() - started
    assert [c.day for c in closed] == [yesterday], closed
    assert not DomainDay.objects.filter(day=yesterday, closed_at__isnull=True).exists()
    return seconds, closed[0].domains_evaluated, closed[0].downgrades


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 domains, one round")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.rounds = "1000,10000", 1
    sizes = [int(s) for s in args.sizes.split(",")]
    require_postgres()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    times: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(args.rounds):
        for n in sizes:
            seconds, evaluated, downgrades = measure(n)
            assert evaluated == n and downgrades == (n + BAD_EVERY - 1) // BAD_EVERY, (evaluated, downgrades)
            times[n].append(seconds)
            print(f"{n:,} domains: closed in {seconds:.2f} s ({downgrades:,} downgraded)", flush=True)
    small, large = sizes[0], sizes[-1]
    t_small, t_large = median(times[small]), median(times[large])
    ratio = t_large / t_small
    limit = round(1.2 * large / small, 1)
    for n in sizes:
        print(f"{n:,} domains: median {median(times[n]):.2f} s ({n / median(times[n]):,.0f} domains/s)")
    print(f"{large:,}/{small:,}: {ratio:.1f} (goal ≤ {limit:g})")
    write_rows(args.json_out, [row(
        f"closing a day, {large:,} vs {small:,} domains", f"{t_large:.1f} s for {large:,}",
        f"{t_small:.2f} s for {small:,}", ratio, f"{large // 1000}k/{small // 1000}k ≤ {limit:g} (linear)",
        ratio <= limit,
        f"close_due_days (the tick's job) on yesterday's counters, 1 in {BAD_EVERY} domains downgraded (D1); "
        f"median of {args.rounds} alternating rounds; ratio is {large:,} time / {small:,} time "
        f"({large / t_large:,.0f} vs {small / t_small:,.0f} domains/s)",
    )])


if __name__ == "__main__":
    main()
