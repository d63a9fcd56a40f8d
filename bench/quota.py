"""Quota: reservations/s from 4 processes on one hot domain, beside a raw SQL loop of the same UPDATE.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sesconsole_bench_quota \
        .venv/bin/python bench/quota.py [--processes 4] [--reservations 100] [--rounds 3] [--cap 500] \
        [--quick] [--json-out FILE]

Creates the database if missing and migrates it; builds an account with a level-20 verified domain.
Starts --processes worker processes (this script with --worker), each with its own connection,
and alternates --rounds rounds of:
  - baseline: each process runs --reservations times the conditional UPDATE reserve_quota runs
    (`sent = sent + 1 … WHERE id = %s AND sent <= cap - 1`), raw SQL in autocommit;
  - sesconsole: each process calls domains.reputation.services.reserve_quota(domain, [one address])
    --reservations times (what SendEmail does per request: the reservation, the statistics
    counters, the upgrade and freeze checks).
Both hit the same domain's row of today; its cap is out of reach there. Reservations/s is all
processes' reservations over the wall time of the round; the figure is the median of the rounds.
It also prints the CPU each reservation cost, in the worker processes and in their PostgreSQL
backends (read from /proc when the server runs on this machine), summed over the measured rounds:
on a loaded machine the rates move with the neighbours' load, the CPU per reservation much less.

Overshoot: a second level-20 domain whose day cap is --cap; each process tries 2 × cap / processes
reservations through reserve_quota at once. Accepted must equal the cap exactly, and so must the
day row's `sent` and the statistics' `sent`: the overshoot count is accepted − cap (any shortfall
is reported too).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import median, require_postgres, row, setup_path, write_rows  # noqa: E402

setup_path()

GOAL = 0.7
ADDRESS = "r@example.org"


def worker(domain_id: int) -> None:
    """Answer commands on stdin, one per line: `quota N`, `sql N`, `cap DOMAIN_ID N`, `quit`."""
    import django

    django.setup()
    from django.db import connection

    from core.clock import platform_today
    from domains.models import DomainDay, SenderDomain
    from domains.reputation.services import reserve_quota

    domain = SenderDomain.objects.get(pk=domain_id)
    connection.ensure_connection()
    raw = connection.connection  # psycopg connection in autocommit (Django's default)
    table = DomainDay._meta.db_table
    row_id = DomainDay.objects.get(domain=domain, day=platform_today()).pk
    update = f"UPDATE {table} SET sent = sent + %s, requested = requested + %s WHERE id = %s AND sent <= cap - %s"
    backend = raw.execute("SELECT pg_backend_pid()").fetchone()[0]
    print("ready", flush=True)
    for line in sys.stdin:
        command, *rest = line.split()
        if command == "quit":
            return
        accepted = 0
        client, server = time.process_time(), backend_cpu(backend)
        if command == "quota":
            for _ in range(int(rest[0])):
                accepted += reserve_quota(domain, [ADDRESS]).ok
        elif command == "cap":
            capped = SenderDomain.objects.get(pk=int(rest[0]))
            for _ in range(int(rest[1])):
                accepted += reserve_quota(capped, [ADDRESS]).ok
        elif command == "sql":
            with raw.cursor() as cursor:
                for _ in range(int(rest[0])):
                    cursor.execute(update, (1, 1, row_id, 1))
                    accepted += cursor.rowcount
        server_now = backend_cpu(backend)
        print(json.dumps({"accepted": accepted, "client_cpu": time.process_time() - client,
                          "server_cpu": None if server is None or server_now is None else server_now - server}),
              flush=True)


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a PostgreSQL backend has used, when the server runs on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Pool:
    def __init__(self, n: int, domain_id: int):
        self.cpu: dict[str, list] = {}
        self.procs = [
            subprocess.Popen([sys.executable, __file__, "--worker", str(domain_id)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
            for _ in range(n)
        ]
        for proc in self.procs:
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("a worker process did not start")

    def run(self, command: str) -> tuple[int, float]:
        """Run `command` in every worker at once: (reservations accepted, wall seconds); the CPU the
        workers and their PostgreSQL backends used is added to self.cpu[command's first word]."""
        started = time.perf_counter()
        for proc in self.procs:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        answers = [json.loads(proc.stdout.readline()) for proc in self.procs]
        seconds = time.perf_counter() - started
        accepted = sum(a["accepted"] for a in answers)
        totals = self.cpu.setdefault(command.split()[0], [0.0, 0.0, 0])
        totals[0] += sum(a["client_cpu"] for a in answers)
        totals[1] = None if totals[1] is None or any(a["server_cpu"] is None for a in answers) else (
            totals[1] + sum(a["server_cpu"] for a in answers))
        totals[2] += accepted
        return accepted, seconds

    def close(self) -> None:
        for proc in self.procs:
            try:
                proc.stdin.write("quit\n")
                proc.stdin.close()
            except BrokenPipeError:
                pass
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--reservations", type=int, default=100, help="per process and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cap", type=int, default=500, help="day cap of the overshoot domain")
    parser.add_argument("--quick", action="store_true", help="25 reservations × 2 rounds, cap 100")
    parser.add_argument("--json-out")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    if args.quick:
        args.reservations, args.rounds, args.cap = 25, 2, 100
    require_postgres()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from accounts.models import Account
    from domains.models import DailyVolume, DomainDay, SenderDomain
    from domains.reputation import levels
    from domains.reputation.services import get_day

    stamp = str(int(time.time()))
    account = Account.objects.create(name=f"quota bench {stamp}")
    hot, capped = (
        SenderDomain.objects.create(
            account=account, name=f"{name}{stamp}.bench.example", status=SenderDomain.VERIFIED,
            level=levels.top_level(), dkim_private_key_encrypted="-", dkim_public_key="-",
        )
        for name in ("hot", "capped")
    )
    DomainDay.objects.filter(pk=get_day(hot).pk).update(cap=10**12)  # never reached in the rate rounds
    DomainDay.objects.filter(pk=get_day(capped).pk).update(cap=args.cap)
    connection.close()

    pool = Pool(args.processes, hot.pk)
    total = args.processes * args.reservations
    ours, base = [], []
    try:
        pool.run("quota 20")  # warm: imports, connections, the rows in the buffer cache
        pool.run("sql 20")
        pool.cpu.clear()
        for _ in range(args.rounds):
            accepted, seconds = pool.run(f"sql {args.reservations}")
            assert accepted == total, accepted
            base.append(accepted / seconds)
            accepted, seconds = pool.run(f"quota {args.reservations}")
            assert accepted == total, accepted
            ours.append(accepted / seconds)
        per_process = 2 * args.cap // args.processes
        accepted, seconds = pool.run(f"cap {capped.pk} {per_process}")
    finally:
        pool.close()

    from django.test.utils import CaptureQueriesContext

    from domains.reputation.services import reserve_quota

    with CaptureQueriesContext(connection) as captured:
        reserve_quota(hot, [ADDRESS])
    statements = len(captured.captured_queries)
    day = DomainDay.objects.get(domain=capped)
    stats_sent = sum(DailyVolume.objects.filter(domain=capped).values_list("sent", flat=True))
    overshoot = max(accepted, day.sent, stats_sent) - args.cap
    exact = accepted == day.sent == stats_sent == args.cap
    m, b = median(ours), median(base)
    ratio = m / b
    print(f"{args.processes} processes, {args.reservations} reservations each per round, {args.rounds} rounds")
    print(f"reserve_quota: {m:,.0f} reservations/s (rounds {', '.join(f'{r:.0f}' for r in ours)})")
    print(f"raw SQL UPDATE loop: {b:,.0f} reservations/s (rounds {', '.join(f'{r:.0f}' for r in base)})")
    print(f"ratio: {ratio:.2f}; SQL statements per reserve_quota: {statements}")
    for command, label in (("quota", "reserve_quota"), ("sql", "raw SQL UPDATE")):
        client, server, count = pool.cpu[command]
        server_text = "n/a (server not on this machine)" if server is None else f"{server / count * 1e6:.0f} µs"
        print(f"CPU per reservation, {label}: workers {client / count * 1e6:.0f} µs, PostgreSQL {server_text}")
    print(f"cap {args.cap}: {args.processes * per_process} attempts, accepted {accepted}, day row sent {day.sent}, "
          f"statistics sent {stats_sent}; overshoot {overshoot}")
    notes = (f"{args.processes} processes on one level-20 domain, median of {args.rounds} alternating rounds of "
             f"{args.processes}×{args.reservations}; baseline: the same conditional UPDATE as raw SQL in autocommit; "
             f"one reserve_quota runs {statements} SQL statements (with BEGIN/COMMIT), the baseline 1")
    write_rows(args.json_out, [
        row("quota, 4 processes, one hot domain", f"{m:,.0f} reservations/s", f"{b:,.0f} reservations/s",
            ratio, f"≥ {GOAL} of the baseline", ratio >= GOAL, notes),
        row("quota overshoot at the cap", f"{overshoot} over the cap (accepted {accepted} of cap {args.cap})",
            "0", 0.0 if exact else float(overshoot), "overshoot 0, accepted = cap", exact,
            f"{args.processes} processes × {per_process} attempts against a day cap of {args.cap}; "
            f"day row sent {day.sent}, statistics sent {stats_sent}"),
    ])


if __name__ == "__main__":
    main()
