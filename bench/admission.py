"""Admission: SendEmail requests/s over HTTP to gunicorn, beside a trivial one-row view on the same server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sesconsole_bench_admission \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/8 \
        .venv/bin/python bench/admission.py [--workers 4] [--requests 100] [--rounds 3] [--quick] [--json-out FILE]

Creates the database if missing and migrates it, then builds an account with a level-20 verified
domain (cap 1,000,000: the cap never refuses), a sender address, an approved template and an API
key. Starts gunicorn itself (production settings: DEBUG off, PostgreSQL, the Redis broker; the
bench URLconf bench.site.urls adds the baseline view) with --workers sync workers on a free port
of 127.0.0.1. No Celery worker runs: the messages stay queued in the broker.

For 1 and then 8 concurrent clients (threads, one new connection per request, as gunicorn's sync
workers close each one), it alternates --rounds rounds of:
  - baseline: POST /bench/baseline, which inserts one row (same middleware, same workers, same database);
  - SendEmail: a TC3-signed request (api/tests/signing.py) to one new recipient each, which the
    API authenticates, validates, reserves quota for, writes (message + event) and enqueues.
Each round sends --requests requests; the figure is the median of the rounds' requests/s. Every
SendEmail response is checked (no Error) and the messages written are counted against them.

Then the floor (--floor-requests, 0 to skip): the round trips alone, from this process with plain
psycopg and redis-py (no Django, no HTTP), alternated over 3 rounds. The baseline's: Django's
connection health check and its INSERT (autocommit, so a commit). SendEmail's: the same health
check, the key lookup, the one read of its checks, BEGIN, the quota reservation, the message and
its event, COMMIT, then Redis: the two rate-limit counters (one MULTI) and the broker's LPUSH.
The difference is what a SendEmail costs beyond the baseline before any Python runs; with the
baseline's measured time over HTTP it bounds the ratio this design can reach on this machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, median, require_postgres, row, setup_path, write_rows  # noqa: E402

setup_path()

GOAL = 0.5
BASELINE_TABLE = "bench_baseline_row"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare() -> dict:
    """Migrate, and build the sender the requests use. Returns what the clients need."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from accounts.models import Account, ApiKey
    from domains.models import SenderDomain
    from domains.reputation import levels
    from domains.services import create_domain
    from sending import services as sending

    stamp = f"{int(time.time())}"
    account = Account.objects.create(name=f"admission bench {stamp}")
    domain = create_domain(account, f"adm{stamp}.bench.example")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED, level=levels.top_level())
    sender = sending.create_sender_address(account, f"news@adm{stamp}.bench.example", "Bench")
    template = sending.create_template(
        account, name="bench", subject="Hello {{name}}", html="<p>Hello {{name}}, code {{code}}</p>",
        text="Hello {{name}}, code {{code}}", transactional=True,
    )
    key, secret = ApiKey.issue(account)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (id bigserial PRIMARY KEY, "
                       "at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)")
    connection.close()
    return {"account_id": account.pk, "domain_id": domain.pk, "sender": sender.email, "template_id": template.pk,
            "secret_id": key.secret_id, "secret_key": secret}


def start_server(workers: int, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "bench.site.settings",
        "DEBUG": "0",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        # The per-SecretId API limit (20 requests/s by default) is a brake for customers; the bench
        # key may go faster. The limit is still counted on every request, as in production.
        "SES_RATE_LIMIT_API_SECRET_ID": "100000000/60",
    })
    command = [sys.executable, "-m", "gunicorn", "sesconsole.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", "sync", "--log-level", "warning",
               "--backlog", "256", "--timeout", "60"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            status, _ = post(port, "/bench/baseline", b"ping", {})
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise SystemExit("gunicorn did not answer within 60 s")


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Load:
    """Send `total` requests from `clients` threads as fast as answers come; count failures."""

    def __init__(self, port: int, ctx: dict):
        self.port, self.ctx = port, ctx
        self.sequence = 0
        self.lock = threading.Lock()

    def next_number(self) -> int:
        with self.lock:
            self.sequence += 1
            return self.sequence

    def send_email(self) -> str | None:
        from api.tests.signing import signed_headers

        n = self.next_number()
        body = json.dumps({
            "FromEmailAddress": f"Bench <{self.ctx['sender']}>",
            "Destination": [f"r{n}@example.org"],
            "Template": {"TemplateID": self.ctx["template_id"],
                         "TemplateData": json.dumps({"name": f"R{n}", "code": str(n)})},
        }).encode()
        host = f"127.0.0.1:{self.port}"
        headers = signed_headers(self.ctx["secret_id"], self.ctx["secret_key"], "SendEmail", body, host=host)
        status, answer = post(self.port, "/", body, headers)
        if status != 200:
            return f"HTTP {status}"
        data = json.loads(answer)["Response"]
        return data["Error"]["Code"] if "Error" in data else None

    def baseline(self) -> str | None:
        n = self.next_number()
        status, _ = post(self.port, "/bench/baseline", json.dumps({"n": n}).encode(), {})
        return None if status == 200 else f"HTTP {status}"

    def run(self, kind: str, clients: int, total: int) -> tuple[float, list[str]]:
        call = self.send_email if kind == "send" else self.baseline
        left = [total]
        errors: list[str] = []
        guard = threading.Lock()

        def client() -> None:
            while True:
                with guard:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                try:
                    error = call()
                except OSError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                if error:
                    with guard:
                        errors.append(error)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return total / (time.perf_counter() - started), errors


def statements_per_send(ctx: dict) -> int:
    """SQL statements one SendEmail runs (BEGIN/COMMIT included), counted in this process."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from api.tests.signing import signed_headers

    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "api_secret_id": (10**9, 60)}
    body = json.dumps({
        "FromEmailAddress": f"Bench <{ctx['sender']}>", "Destination": ["counted@example.org"],
        "Template": {"TemplateID": ctx["template_id"], "TemplateData": json.dumps({"name": "C", "code": "0"})},
    }).encode()
    headers = signed_headers(ctx["secret_id"], ctx["secret_key"], "SendEmail", body)
    with CaptureQueriesContext(connection) as captured:
        answer = Client().post("/", data=body, content_type="application/json", headers=headers).json()
    assert "Error" not in answer["Response"], answer
    return len(captured.captured_queries)


def round_trip_floor(ctx: dict, requests: int) -> tuple[float, float]:
    """(SendEmail's, the baseline's) round trips alone, in ms per request: the median of 3 alternated rounds."""
    import datetime as dt

    import psycopg
    import redis

    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    pg = psycopg.connect(url, autocommit=True)
    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    scratch = f"bench-admission-floor-{os.getpid()}"
    day = dt.datetime.now(dt.UTC).date()
    message = "x" * 950  # about the size of the broker message of one SendEmail

    def baseline() -> None:
        pg.execute("SELECT 1")
        pg.execute(f"INSERT INTO {BASELINE_TABLE} (body) VALUES (%s) RETURNING id", ['{"n": 1}']).fetchone()

    def send() -> None:
        pg.execute("SELECT 1")
        pg.execute("SELECT k.*, a.* FROM accounts_apikey k JOIN accounts_account a ON a.id = k.account_id "
                   "WHERE k.secret_id = %s AND k.enabled LIMIT 1", [ctx["secret_id"]]).fetchone()
        pg.execute("SELECT sa.*, d.*, t.* FROM sending_senderaddress sa JOIN domains_senderdomain d ON d.id = sa.domain_id "
                   "JOIN sending_template t ON t.id = %s WHERE sa.email = %s", [ctx["template_id"], ctx["sender"]]).fetchone()
        pipe = broker.pipeline(transaction=True)
        pipe.get(f"{scratch}:bad")
        pipe.incrby(f"{scratch}:key", 1)
        pipe.expire(f"{scratch}:key", 60)
        pipe.execute()
        with pg.transaction():
            pg.execute("UPDATE domains_domainday SET requested = requested WHERE domain_id = %s AND day = %s",
                       [ctx["domain_id"], day])
            pg.execute(f"INSERT INTO {BASELINE_TABLE} (body) VALUES (%s) RETURNING id", [message]).fetchone()
            pg.execute(f"INSERT INTO {BASELINE_TABLE} (body) VALUES (%s) RETURNING id", ['{"queued": 1}']).fetchone()
        broker.lpush(scratch, message)

    times: dict[str, list[float]] = {"send": [], "baseline": []}
    try:
        for _ in range(3):
            for name, call in (("baseline", baseline), ("send", send)):
                started = time.perf_counter()
                for _ in range(requests):
                    call()
                times[name].append((time.perf_counter() - started) / requests * 1000)
    finally:
        broker.delete(scratch, f"{scratch}:key", f"{scratch}:bad")
        pg.close()
    return median(times["send"]), median(times["baseline"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--requests", type=int, default=100, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--quick", action="store_true", help="30 requests × 2 rounds")
    parser.add_argument("--floor-requests", type=int, default=300,
                        help="requests per round of the round-trip floor (0: skip it)")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 30, 2
    require_postgres()
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        sys.exit("Set CELERY_BROKER_URL to a Redis db of the benchmark's own (redis://127.0.0.1:6379/8).")

    ctx = prepare()
    port = free_port()
    server = start_server(args.workers, port)
    rows = []
    try:
        load = Load(port, ctx)
        load.run("send", 2, 20)  # warm every worker: imports, connections, the broker's
        load.run("baseline", 2, 20)
        from sending.models import Message

        before = Message.objects.filter(account_id=ctx["account_id"]).count()
        sent_ok = 0
        for clients in [int(c) for c in args.concurrency.split(",")]:
            ours, base, failures = [], [], []
            for _ in range(args.rounds):
                rate, errors = load.run("baseline", clients, args.requests)
                base.append(rate)
                failures += [f"baseline: {e}" for e in errors]
                rate, errors = load.run("send", clients, args.requests)
                ours.append(rate)
                sent_ok += args.requests - len(errors)
                failures += [f"SendEmail: {e}" for e in errors]
            m, b = median(ours), median(base)
            ratio = m / b
            print(f"{clients} client(s): SendEmail {m:,.0f} req/s (rounds {', '.join(f'{r:.0f}' for r in ours)}); "
                  f"baseline {b:,.0f} req/s (rounds {', '.join(f'{r:.0f}' for r in base)}); ratio {ratio:.2f}")
            if failures:
                print(f"  {len(failures)} failed requests, e.g. {sorted(set(failures))[:5]}")
            rows.append(row(
                f"admission, {clients} client{'s' if clients > 1 else ''}", f"{m:,.0f} req/s", f"{b:,.0f} req/s",
                ratio, f"≥ {GOAL} of the baseline", ratio >= GOAL and not failures,
                f"SendEmail (TC3-signed, 1 recipient) to gunicorn, {args.workers} sync workers, PostgreSQL + Redis broker; "
                f"median of {args.rounds} alternating rounds of {args.requests} requests; baseline: a view inserting "
                f"one row on the same server" + (f"; {len(failures)} requests FAILED" if failures else ""),
            ))
        written = Message.objects.filter(account_id=ctx["account_id"]).count() - before
        statements = statements_per_send(ctx)
        print(f"SQL statements of one SendEmail: {statements} (the baseline view: 1)")
        for r in rows:
            r["notes"] += f"; one SendEmail runs {statements} SQL statements, the baseline 1"
        print(f"messages written: {written}; SendEmail requests answered without error: {sent_ok}")
        if args.floor_requests > 0:
            floor_send, floor_base = round_trip_floor(ctx, args.floor_requests)
            extra = floor_send - floor_base
            print(f"round trips alone (no Django, no HTTP): SendEmail {floor_send:.3f} ms, baseline {floor_base:.3f} ms "
                  f"per request; SendEmail's extra round trips cost {extra:.3f} ms")
            for r, clients in zip(rows, [int(c) for c in args.concurrency.split(",")], strict=True):
                if clients != 1:  # with several clients the waits overlap other workers' work: no simple bound
                    r["notes"] += f"; its extra round trips alone (PostgreSQL, Redis) cost {extra:.2f} ms"
                    continue
                base_ms = 1000 / float(r["baseline"].split()[0].replace(",", ""))
                bound = base_ms / (base_ms + extra)
                print(f"  1 client: a baseline request takes {base_ms:.2f} ms; a SendEmail that did nothing but add "
                      f"its extra round trips would take {base_ms + extra:.2f} ms: ratio at most {bound:.2f}")
                r["notes"] += (f"; its extra round trips alone (PostgreSQL, Redis) cost {extra:.2f} ms, "
                               f"which bounds the 1-client ratio at {bound:.2f}")
        if written != sent_ok:
            for r in rows:
                r["met"] = False
                r["notes"] += f"; MISMATCH: {written} messages written for {sent_ok} accepted requests"
    finally:
        server.terminate()
        server.wait(timeout=30)
    write_rows(args.json_out, rows)


if __name__ == "__main__":
    main()
