"""Statistics on a year of daily aggregates: the page, GetStatisticsReport and a trivial page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sesconsole_stats_bench \
        .venv/bin/python bench/statistics.py [--repeat 30] [--refill]

Creates the database if missing and migrates it. Fills, once (a rerun reuses the rows), a year of
DailyVolume up to today for 1,000 sender domains × 10 receiving mailbox types in one account
(3.65 M rows) plus three other accounts of 50 domains each, with PostgreSQL COPY. Then, in this
process with django.test.Client, alternates for --repeat rounds: GET /login/ (the trivial page,
anonymous), GET /stats/ over 30 days (signed in), GetStatisticsReport over 30 and over 90 days
(signed TC3 calls), and stats.queries.daily_volumes over 30 days alone. Prints median and p95 of
each, and each one's ratio to the trivial page.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sesconsole.settings")

MAIN_DOMAINS = 1000
OTHER_ACCOUNTS = 3
OTHER_DOMAINS = 50
MAILBOX_TYPES = ["gmail.com", "outlook.com", "yahoo.com", "qq.com", "163.com", "icloud.com", "hotmail.com",
                 "aol.com", "gmx.de", "proton.me"]
DAYS = 365
MAIN_NAME = "stats bench main"


def ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def fill(today: dt.date) -> None:
    """One account with 1,000 domains and three smaller ones; a year of DailyVolume each, by COPY."""
    from django.db import connection

    from accounts.models import Account
    from domains.models import SenderDomain
    from stats.models import DailyVolume

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
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    print(f"filled {rows:,} DailyVolume rows in {time.perf_counter() - started:.1f} s")


def median(values: list[float]) -> float:
    # Not the statistics module: this file's own name shadows it when run as a script.
    ordered, middle = sorted(values), len(values) // 2
    return ordered[middle] if len(values) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database of its own (it is filled with 3.65 M rows).")
    ensure_database(url)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)

    from accounts.models import Account, ApiKey, Membership
    from api.tests.signing import signed_headers
    from domains.reputation.services import platform_today
    from stats import queries
    from stats.models import DailyVolume

    today = platform_today()
    account = Account.objects.filter(name=MAIN_NAME).first()
    expected = MAIN_DOMAINS * len(MAILBOX_TYPES) * DAYS
    if (
        args.refill or account is None
        or DailyVolume.objects.filter(account=account).count() != expected
        or not DailyVolume.objects.filter(account=account, day=today).exists()
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
            response = signed_in.post("/", data=body, content_type="application/json", headers=headers)
            data = response.json()["Response"]
            assert "Error" not in data, data
            assert data["OverallVolume"]["RequestCount"] > 0
        return run

    def query_only():
        queries.daily_volumes(account, today - dt.timedelta(days=29), today)

    cases = {
        "trivial page GET /login/": page(anonymous, "/login/"),
        "statistics page /stats/ 30 days": page(signed_in, "/stats/", start=start30, end=today.isoformat()),
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
    for _ in range(args.repeat):
        for name, run in cases.items():
            started = time.perf_counter()
            run()
            timings[name].append((time.perf_counter() - started) * 1000)

    baseline = median(timings["trivial page GET /login/"])
    baseline95 = percentile(timings["trivial page GET /login/"], 0.95)
    print(f"\n{args.repeat} alternating rounds, in-process django.test.Client, PostgreSQL\n")
    print(f"{'request':40} {'median ms':>10} {'p95 ms':>9} {'x trivial (median)':>19} {'x trivial (p95)':>16}")
    for name, values in timings.items():
        mid, p95 = median(values), percentile(values, 0.95)
        print(f"{name:40} {mid:10.1f} {p95:9.1f} {mid / baseline:19.2f} {p95 / baseline95:16.2f}")


if __name__ == "__main__":
    main()
