"""Statistics on a year of daily aggregates: the page, GetStatisticsReport and a trivial page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sesconsole_stats_bench \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/statistics.py [--repeat 30] [--refill] [--json-out FILE]

A signed-in request reads its session with the user, membership, account and today's freeze in one
PostgreSQL query (accounts.backends), as in production: the statistics page costs two PostgreSQL
round trips (that one and the page's own statement), the trivial page none, so on a loaded machine
the wall-clock ratio rises above the CPU-time ratio.

Creates the database if missing and migrates it. Fills, once (a rerun reuses the rows), a year of
DailyVolume up to today for 1,000 sender domains × 10 receiving mailbox types in one account
(3.65 M rows) plus three other accounts of 50 domains each, with PostgreSQL COPY, then the
accounts' rollups from them (domains.reputation.rollups.rebuild, as the migration does). Then, in this process
with django.test.Client, alternates for --repeat rounds: GET /login/ (the trivial page, anonymous),
GET /stats/ over 30 days (signed in; unfiltered, and filtered by a domain and by a mailbox type),
the domain search's suggestions, an empty signed-in page for reference, GetStatisticsReport over
30 and over 90 days (signed TC3 calls, no session), and stats.queries.daily_volumes over 30 days
alone. Prints median and p95 of each, each one's ratio to the trivial page, and the median CPU
time of this process with its ratio (steadier than wall-clock time on a shared machine).
--json-out writes the result rows of bench/common.py: the page and GetStatisticsReport against the
goal of the issue, within 3× the trivial page (median wall-clock time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import common  # noqa: E402

common.setup_path()

MAIN_DOMAINS = 1000
OTHER_ACCOUNTS = 3
OTHER_DOMAINS = 50
MAILBOX_TYPES = ["gmail.com", "outlook.com", "yahoo.com", "qq.com", "163.com", "icloud.com", "hotmail.com",
                 "aol.com", "gmx.de", "proton.me"]
DAYS = 365
MAIN_NAME = "stats bench main"


def fill(today: dt.date) -> None:
    """One account with 1,000 domains and three smaller ones; a year of DailyVolume each, by COPY."""
    from django.db import connection

    from accounts.models import Account
    from domains.models import AccountDay, AccountMailboxDay, DailyVolume, SenderDomain
    from domains.reputation import rollups

    Account.objects.filter(name__startswith="stats bench").delete()
    accounts = [(Account.objects.create(name=MAIN_NAME), MAIN_DOMAINS)]
    accounts += [(Account.objects.create(name=f"stats bench other {n}"), OTHER_DOMAINS) for n in range(OTHER_ACCOUNTS)]
    table = DailyVolume._meta.db_table
    columns = ("account_id", "domain_id", "mailbox_type", "day", *DailyVolume.COUNTERS)
    started = time.perf_counter()
    rows = 0
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        for index, (account, count) in enumerate(accounts):
            domains = SenderDomain.objects.bulk_create(
                SenderDomain(account=account, name=f"d{n}.a{index}.bench.example", status=SenderDomain.VERIFIED,
                             dkim_private_key_encrypted="-", dkim_public_key="-")
                for n in range(count)
            )
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for offset in range(DAYS):
                    day = (today - dt.timedelta(days=offset)).isoformat()
                    lines = []
                    for domain in domains:
                        for t, mailbox in enumerate(MAILBOX_TYPES):
                            sent = 20 + (domain.pk * 7 + t * 13 + offset) % 80
                            delivered = sent - sent // 12
                            invalid = sent // 25
                            spam = sent // 60
                            bounced = sent - delivered - invalid - spam if sent - delivered > invalid + spam else 0
                            opened = delivered // 3
                            lines.append(
                                f"{account.pk}\t{domain.pk}\t{mailbox}\t{day}\t{sent + 1}\t{sent}\t{delivered}\t"
                                f"{invalid}\t{spam}\t{bounced}\t{delivered // 500}\t{opened}\t{opened // 4}\t"
                                f"{delivered // 200}\n"
                            )
                    copy.write("".join(lines))
                    rows += len(lines)
    connection.connection.commit() if not connection.get_autocommit() else None
    rollups.rebuild([account.pk for account, _ in accounts])
    with connection.cursor() as cursor:
        for model in (DailyVolume, AccountDay, AccountMailboxDay):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    print(f"filled {rows:,} DailyVolume rows and their rollups in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--refill", action="store_true")
    parser.add_argument("--json-out", help="write the result rows (bench/common.py) to this file")
    args = parser.parse_args()

    common.require_postgres()  # a database of its own: it is filled with 3.65 M rows

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)

    from accounts.models import Account, ApiKey, Membership
    from api.tests.signing import signed_headers
    from core.clock import platform_today
    from domains.models import AccountDay, DailyVolume
    from stats import queries

    today = platform_today()
    account = Account.objects.filter(name=MAIN_NAME).first()
    expected = MAIN_DOMAINS * len(MAILBOX_TYPES) * DAYS
    if (
        args.refill or account is None
        or DailyVolume.objects.filter(account=account).count() != expected
        or not DailyVolume.objects.filter(account=account, day=today).exists()
        or AccountDay.objects.filter(account=account).count() != DAYS
    ):
        fill(today)
        account = Account.objects.get(name=MAIN_NAME)
    print(f"DailyVolume rows: {DailyVolume.objects.count():,} ({expected:,} in the measured account)")

    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench@stats.example", defaults={"email": "bench@stats.example"})
    Membership.objects.filter(user=user).delete()
    Membership.objects.create(account=account, user=user, role=Membership.OWNER)
    key, secret = ApiKey.issue(account)

    signed_in = Client()
    signed_in.force_login(user)
    anonymous = Client()
    api_client = Client()
    start30 = (today - dt.timedelta(days=29)).isoformat()
    start90 = (today - dt.timedelta(days=89)).isoformat()

    def page(client, path, **query):
        def run():
            response = client.get(path, query)
            assert response.status_code == 200, (path, response.status_code)
            b"".join(response) if not response.streaming else b"".join(response.streaming_content)
        return run

    def report(start: str):
        body = json.dumps({"StartDate": start, "EndDate": today.isoformat()}).encode()

        def run():
            headers = signed_headers(key.secret_id, secret, "GetStatisticsReport", body)
            # As the SDK calls it: signed, no session cookie.
            response = api_client.post("/", data=body, content_type="application/json", headers=headers)
            data = response.json()["Response"]
            assert "Error" not in data, data
            assert data["OverallVolume"]["RequestCount"] > 0
        return run

    def query_only():
        queries.daily_volumes(account, today - dt.timedelta(days=29), today)

    one_domain = "d500.a0.bench.example"
    cases = {
        "trivial page GET /login/": page(anonymous, "/login/"),
        "statistics page /stats/ 30 days": page(signed_in, "/stats/", start=start30, end=today.isoformat()),
        "/stats/ 30 days, one domain": page(signed_in, "/stats/", start=start30, end=today.isoformat(),
                                            domain=one_domain),
        "/stats/ 30 days, one mailbox type": page(signed_in, "/stats/", start=start30, end=today.isoformat(),
                                                  mailbox_type="gmail.com"),
        "/stats/domains/ suggestions": page(signed_in, "/stats/domains/", domain="d12"),
        # For reference: what any signed-in page costs before its own work (session, user, account,
        # freeze banner, navigation), an empty blacklist.
        "signed-in page /blacklist/ (empty)": page(signed_in, "/blacklist/"),
        "GetStatisticsReport 30 days": report(start30),
        "GetStatisticsReport 90 days": report(start90),
        "stats.queries.daily_volumes 30 days": query_only,
    }
    if signed_in.get("/stats/").status_code == 404:
        del cases["statistics page /stats/ 30 days"]
        print("/stats/ is not there yet: measuring the API and the queries only")
    for run in cases.values():  # warm-up: imports, template loading, first connection
        run()
    timings: dict[str, list[float]] = {name: [] for name in cases}
    # Wall-clock time is what a user waits; this process's CPU time (without the database server's) is
    # shown beside it, as it moves less when others load the machine.
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, run in cases.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            run()
            timings[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - started_cpu) * 1000)

    trivial = "trivial page GET /login/"
    baseline = common.median(timings[trivial])
    baseline95 = common.percentile(timings[trivial], 0.95)
    baseline_cpu = common.median(cpu[trivial])
    print(f"\n{args.repeat} alternating rounds, in-process django.test.Client, PostgreSQL\n")
    print(f"{'request':40} {'median ms':>10} {'p95 ms':>9} {'x trivial (median)':>19} {'x trivial (p95)':>16}"
          f" {'CPU ms (median)':>16} {'x trivial (CPU)':>16}")
    for name, values in timings.items():
        mid, p95, mid_cpu = common.median(values), common.percentile(values, 0.95), common.median(cpu[name])
        print(f"{name:40} {mid:10.1f} {p95:9.1f} {mid / baseline:19.2f} {p95 / baseline95:16.2f}"
              f" {mid_cpu:16.2f} {mid_cpu / baseline_cpu:16.2f}")

    goal = "≤ 3× the trivial page"
    notes = (f"{args.repeat} alternating rounds, in-process django.test.Client, PostgreSQL; a year of DailyVolume "
             f"for {MAIN_DOMAINS:,} domains × {len(MAILBOX_TYPES)} mailbox types ({expected:,} rows); median")
    results = []
    for scenario, name in (("statistics page 30 days", "statistics page /stats/ 30 days"),
                           ("GetStatisticsReport 30 days", "GetStatisticsReport 30 days"),
                           ("GetStatisticsReport 90 days", "GetStatisticsReport 90 days")):
        if name not in timings:
            continue
        mid, p95 = common.median(timings[name]), common.percentile(timings[name], 0.95)
        ratio = mid / baseline
        mid_cpu = common.median(cpu[name])
        results.append(common.row(
            scenario, f"{mid:.1f} ms (p95 {p95:.1f} ms)", f"{baseline:.1f} ms (p95 {baseline95:.1f} ms), GET /login/",
            ratio, goal, ratio <= 3,
            f"{notes}; CPU time of this process {mid_cpu:.2f} ms against {baseline_cpu:.2f} ms "
            f"({mid_cpu / baseline_cpu:.2f}×)",
        ))
    common.write_rows(args.json_out, results)


if __name__ == "__main__":
    main()
