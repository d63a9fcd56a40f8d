"""List import: rows/s loading a 1,000,000-row CSV into a recipient list, and its peak RSS, beside COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sesconsole_bench_list_import \
        .venv/bin/python bench/list_import.py [--rows 1000000] [--rounds 3] [--quick] [--json-out FILE]

Creates the database if missing and migrates it. THE RECIPIENT TABLES ARE EMPTIED (TRUNCATE) before
each round: give it a database of its own. Writes a CSV once (header `email,name,city`, one
distinct valid address per row, ~47 bytes a row) to a temporary folder, then alternates --rounds
rounds of:
  - sesconsole: a fresh process runs the Celery task batches.import_list (batches/lists/tasks.py)
    on a new list, exactly as a worker would after an upload: streamed, every row validated,
    duplicates checked against the list, progress written after each batch. Peak RSS is that
    process's high-water mark (VmHWM), as the kernel reports it for the child (wait4 ru_maxrss).
  - baseline: PostgreSQL `COPY … FROM STDIN (FORMAT csv, HEADER)` of the same file, streamed from
    Python, into a comparable table: (id bigserial, list id, email varchar(254), name, city,
    created_at) with a unique index on (list id, email), like the recipients table.
Reports medians and the ratio of rows/s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import median, require_postgres, row, setup_path, write_rows  # noqa: E402

setup_path()

RATE_GOAL = 0.3
RSS_GOAL_MB = 300
COPY_TABLE = "bench_copy_receiver"


def write_csv(path: Path, rows: int) -> None:
    cities = ["Paris", "Oslo", "Lima", "Pune", "Kyiv", "Accra", "Quito", "Hanoi"]
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,city\n")
        for start in range(0, rows, 100_000):
            out.write("".join(
                f"user{i}@example{i % 97}.org,Name {i},{cities[i % 8]}\n" for i in range(start, min(rows, start + 100_000))
            ))


def child(list_id: int, path: str) -> None:
    """Run the import task in this fresh process; print seconds taken."""
    import django

    django.setup()
    from batches.lists.tasks import import_list

    started = time.perf_counter()
    import_list(list_id, path)  # the task's body, synchronously, as the worker runs it
    print(f"{time.perf_counter() - started:.6f}", flush=True)


def run_import(csv_path: Path, rows: int, work: Path) -> tuple[float, float]:
    """Returns (seconds, peak RSS in MB) of the import in a child process."""
    from django.db import connection

    from accounts.models import Account
    from batches.lists import services as list_services
    from batches.models import Receiver, ReceiverList

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Receiver._meta.db_table}, batches_receiverlisterror")
    account = Account.objects.get_or_create(name="list import bench")[0]
    receiver_list = list_services.create_list(account, f"bench {time.time_ns()}")
    # The task removes its file when done, as after an upload: give it a link of its own.
    upload = work / f"upload-{receiver_list.pk}.csv"
    os.link(csv_path, upload)
    list_services.begin_upload(receiver_list, upload.stat().st_size)
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(receiver_list.pk), str(upload)],
                            stdout=subprocess.PIPE, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"the import process failed ({proc.returncode})")
    seconds = float(output.strip().splitlines()[-1])
    receiver_list.refresh_from_db()
    loaded = Receiver.objects.filter(receiver_list=receiver_list).count()
    if (receiver_list.status, receiver_list.count, loaded, receiver_list.invalid_count) != (
        ReceiverList.DONE, rows, rows, 0
    ):
        raise SystemExit(f"the import did not load every row: status {receiver_list.status}, count "
                         f"{receiver_list.count}, rows {loaded}, invalid {receiver_list.invalid_count}")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def run_copy(csv_path: Path, rows: int) -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {COPY_TABLE}")
    connection.ensure_connection()
    raw = connection.connection
    started = time.perf_counter()
    with raw.transaction(), raw.cursor() as cursor:
        with cursor.copy(f"COPY {COPY_TABLE} (email, name, city) FROM STDIN (FORMAT csv, HEADER true)") as copy:
            with csv_path.open("rb") as source:
                while block := source.read(1024 * 1024):
                    copy.write(block)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {COPY_TABLE}")
        assert cursor.fetchone()[0] == rows
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="50,000 rows, one round")
    parser.add_argument("--json-out")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(int(args.child[0]), args.child[1])
    if args.quick:
        args.rows, args.rounds = 50_000, 1
    require_postgres()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {COPY_TABLE} (id bigserial PRIMARY KEY, "
                       "list_id bigint NOT NULL DEFAULT 1, email varchar(254) NOT NULL, name text, city text, "
                       "created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (list_id, email))")

    with tempfile.TemporaryDirectory(prefix="sesconsole-bench-") as folder:
        work = Path(folder)
        csv_path = work / "list.csv"
        write_csv(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"{args.rows:,} rows, {size_mb:.1f} MB", flush=True)
        ours, base, rss = [], [], []
        for _ in range(args.rounds):
            seconds = run_copy(csv_path, args.rows)
            base.append(args.rows / seconds)
            print(f"COPY: {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s)", flush=True)
            seconds, peak = run_import(csv_path, args.rows, work)
            ours.append(args.rows / seconds)
            rss.append(peak)
            print(f"import: {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s), peak RSS {peak:.0f} MB", flush=True)
    m, b, peak = median(ours), median(base), max(rss)
    ratio = m / b
    print(f"import {m:,.0f} rows/s, COPY {b:,.0f} rows/s, ratio {ratio:.2f}; peak RSS {peak:.0f} MB")
    notes = (f"{args.rows:,}-row CSV ({size_mb:.0f} MB, email + 2 variables) through the import task in a fresh "
             f"process; baseline: COPY of the same file into a table with the same unique index; median of "
             f"{args.rounds} alternating rounds")
    write_rows(args.json_out, [
        row("list import", f"{m:,.0f} rows/s", f"{b:,.0f} rows/s (COPY)", ratio, f"≥ {RATE_GOAL} of COPY",
            ratio >= RATE_GOAL, notes),
        row("list import, peak RSS", f"{peak:.0f} MB", "—", peak / RSS_GOAL_MB, f"< {RSS_GOAL_MB} MB",
            peak < RSS_GOAL_MB, "the import process's high-water mark (wait4 ru_maxrss), largest of the rounds"),
    ])


if __name__ == "__main__":
    main()
