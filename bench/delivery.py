"""Delivery: queued messages to a local SMTP sink with 2 Celery workers, beside smtplib and a peer.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sesconsole_bench_delivery \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/11 \
        .venv/bin/python bench/delivery.py [--messages 2000] [--rounds 3] [--recipients 20000] \
            [--batch-seconds 300] [--only delivery,peer,batch] [--json-out FILE]

Everything runs as in production on 127.0.0.1: PostgreSQL, a Redis broker, 2 real Celery worker
processes (`celery -A sesconsole worker`, concurrency 1 each), DKIM (1024-bit) on, and an aiosmtpd
sink (tests/smtpsink.py, counting instead of keeping every message) in a process of its own.
The database named in DATABASE_URL is created and migrated; the peer gets `<name>_peer`.

Scenarios, each with its baseline in the same run, alternating, medians over --rounds:

  delivery, 2 workers  --messages messages queued through the real send path (sending.services.
                       send_email, 50 destinations a call) with the enqueue held back; the clock
                       starts when their deliver tasks (50 ids each, as the API enqueues them) go
                       to the broker and stops when the last message's outcome is recorded.
                       Baseline: a plain smtplib loop over one reused connection to the same sink.
  delivery vs peer     django-post-office (bench/site_postoffice, its own process and database):
                       the same number of messages queued with mail.send_many (template rendered
                       per recipient), then its `send_queued_mail` command with 2 processes
                       (until the queue is empty); the clock covers that command only, like ours. The peer signs nothing (post_office has no
                       DKIM), which favours it.
  batch dispatch       a batch task of --recipients recipients (a list imported once and reused)
                       from a level-20 domain, dispatched and delivered by the workers. A run that
                       ends within --batch-seconds reports recipients / total time; a longer one
                       (1,000,000) reports the steady rate over the window after its first 20%,
                       then cancels the task. Baseline: the delivery baseline.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, median, require_postgres, row, setup_path, write_rows  # noqa: E402

PYTHON = sys.executable
GROUP = 50  # destinations per SendEmail call, and ids per deliver task (sending.outbox / batches)
WORKERS = 2


# --- the sink: its own process -------------------------------------------------------------------------


def run_sink(port: int, status_file: str) -> None:
    """aiosmtpd (tests/smtpsink.py) counting what it accepts; keeps the first message for the DKIM check."""
    setup_path()
    from tests.smtpsink import ACCEPTED, SmtpSink

    class CountingSink(SmtpSink):
        accepted = 0
        first: bytes = b""

        async def handle_DATA(self, server, session, envelope):
            self.accepted += len(envelope.rcpt_tos)
            if not self.first and b"DKIM-Signature" in (envelope.original_content or b"")[:200]:
                self.first = envelope.original_content
                Path(status_file + ".first").write_bytes(self.first)
            return ACCEPTED

    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = CountingSink()
    sink.port = port
    from aiosmtpd.controller import Controller

    sink._controller = Controller(sink, hostname="127.0.0.1", port=port)
    sink.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    while not stop.wait(0.5):
        Path(status_file).write_text(str(sink.accepted))
    sink.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the baseline ---------------------------------------------------------------------------------------


def smtplib_loop(port: int, n: int) -> float:
    """Seconds for n messages with smtplib over one reused connection (a small message built each time)."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(n):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "news@example.org", f"b{i}@example.org", f"Hello B{i}"
            msg.set_content(f"Hello B{i}")
            smtp.send_message(msg)
    return time.perf_counter() - started


# --- the peer: django-post-office in its own process ----------------------------------------------------


HTML = "<html><body><p>Hello {{name}},</p><p>your order {{order}} has shipped. " \
       '<a href="https://shop.example/orders/{{order}}">Track it</a>.</p></body></html>'
TEXT = "Hello {{name}},\n\nyour order {{order}} has shipped: https://shop.example/orders/{{order}}\n"


def run_peer(n: int, rounds_done: int) -> None:
    """Queue n messages with post_office and time send_queued; prints one JSON line."""
    setup_path()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from post_office import mail
    from post_office.models import Email, EmailTemplate

    Email.objects.all().delete()
    template, _ = EmailTemplate.objects.get_or_create(
        name="bench", defaults={"subject": "Your order {{ order }}", "content": TEXT.replace("{{", "{{ ").replace(
            "}}", " }}"), "html_content": HTML.replace("{{", "{{ ").replace("}}", " }}")},
    )
    started = time.perf_counter()
    mail.send_many([
        {"sender": "news@peer.example", "recipients": [f"p{rounds_done}-{i}@example.org"], "template": template,
         "context": {"name": f"P{i}", "order": 10000 + i}}
        for i in range(n)
    ])
    queued = time.perf_counter() - started
    from django.db import connections

    connections.close_all()  # the pool forks: children must not share the parent's connection
    started = time.perf_counter()
    # The command a post_office site runs: send_queued batch after batch (100 each) until none is left.
    call_command("send_queued_mail", processes=WORKERS, lockfile=f"/tmp/bench-delivery-post-office-{os.getpid()}")
    connections.close_all()
    sent = time.perf_counter() - started
    print(json.dumps({"queue_s": queued, "send_s": sent, "sent": Email.objects.filter(status=0).count()}))


def peer_round(port: int, n: int, round_no: int, database_url: str) -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.site_postoffice.settings", DATABASE_URL=database_url,
               EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(port), PYTHONPATH=str(ROOT))
    out = subprocess.run([PYTHON, __file__, "--peer-run", str(n), "--round", str(round_no)], env=env,
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- ours -------------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, port: int):
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        call_command("migrate", verbosity=0)
        from accounts.models import Account
        from domains.models import SenderDomain
        from domains.services import create_domain
        from sending import services as sending
        from sending.models import SenderAddress, Template

        # One account and domain across runs, so a large recipient list is imported once.
        self.port = port
        self.account, _ = Account.objects.get_or_create(name="delivery bench")
        self.domain = SenderDomain.objects.filter(account=self.account).first() or create_domain(
            self.account, "bench-delivery.example")
        # Level 20 with a cap no run reaches; reset each run (closing a day may have moved it).
        SenderDomain.objects.filter(pk=self.domain.pk).update(
            status=SenderDomain.VERIFIED, level=20, custom_cap=100_000_000
        )
        self.domain.refresh_from_db()
        self.sender = "news@bench-delivery.example"
        if not SenderAddress.objects.filter(email=self.sender).exists():
            sending.create_sender_address(self.account, self.sender, "Bench News")
        self.template = Template.objects.filter(account=self.account, name="bench").first() or sending.create_template(
            self.account, name="bench", subject="Your order {{order}}", html=HTML, text=TEXT, transactional=True,
        )
        from domains.models import DomainDay

        DomainDay.objects.filter(domain=self.domain).update(cap=100_000_000, level=20)
        self.serial = int(time.time())
        self.workers: list[subprocess.Popen] = []

    def start_workers(self) -> None:
        env = dict(os.environ, EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(self.port), PYTHONPATH=str(ROOT))
        from sesconsole.celery import app

        app.control.purge()
        for i in range(WORKERS):
            self.workers.append(subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", "sesconsole", "worker", "--concurrency", "1", "--pool", "prefork",
                 "-n", f"bench-delivery-{i}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "--loglevel", "WARNING"],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(f"/tmp/bench-delivery-worker{i}.log", "w"),
            ))

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()

    def queue(self, n: int) -> list[int]:
        """n messages through SendEmail's service (50 destinations a call), not yet enqueued."""
        from sending import outbox
        from sending import services as sending
        from sending.models import Message

        held: list[list[int]] = []
        original = outbox.enqueue
        outbox.enqueue = lambda ids: held.append(list(ids))
        try:
            for start in range(0, n, GROUP):
                self.serial += 1
                destinations = [f"c{self.serial}-{i}@example.org" for i in range(min(GROUP, n - start))]
                result = sending.send_email(
                    self.account, from_address=self.sender, destinations=destinations, template_id=self.template.pk,
                    template_data={"name": "Ann", "order": str(10000 + self.serial)},
                )
                assert len(result.message_ids) == len(destinations)
        finally:
            outbox.enqueue = original
        ids = [pk for chunk in held for pk in chunk]
        assert len(ids) == n and Message.objects.filter(pk__in=ids, status=Message.QUEUED).count() == n
        return ids

    def deliver(self, ids: list[int]) -> float:
        """Seconds from handing the ids to the broker until every outcome is recorded."""
        from sending.models import Message
        from sending.tasks import deliver

        started = time.perf_counter()
        for start in range(0, len(ids), GROUP):
            deliver.delay(ids[start : start + GROUP])
        pending = Message.objects.filter(pk__gte=min(ids), pk__lte=max(ids), account=self.account,
                                         status__in=[Message.QUEUED, Message.SENDING])
        while pending.exists():
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        delivered = Message.objects.filter(pk__in=ids, status=Message.DELIVERED).count()
        if delivered != len(ids):
            raise SystemExit(f"only {delivered} of {len(ids)} delivered; see /tmp/bench-delivery-worker*.log")
        return elapsed

    def batch(self, recipients: int, window: float) -> tuple[float, str]:
        """(messages/s, how it was measured) of a batch task of `recipients` to the sink."""
        from batches import services as batches
        from batches.lists.importer import import_csv
        from batches.lists.services import create_list
        from batches.models import ReceiverList
        from sending.models import Message

        name = f"bench batch {recipients}"
        receivers = ReceiverList.objects.filter(account=self.account, name=name, count=recipients,
                                                status=ReceiverList.DONE).first()
        if receivers is None:
            ReceiverList.objects.filter(account=self.account, name=name).delete()
            receivers = create_list(self.account, name)
            csv = io.BytesIO(("email,name,order\n" + "".join(
                f"r{i}@example.org,R{i},{i}\n" for i in range(recipients))).encode())
            started = time.perf_counter()
            import_csv(receivers, csv)
            print(f"  imported the {recipients:,}-row list in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        task = batches.create_task(self.account, from_address=self.sender, receiver_list_id=receivers.pk,
                                   template_id=self.template.pk)
        done = Message.objects.filter(batch_task=task).exclude(status__in=[Message.QUEUED, Message.SENDING])
        samples: list[tuple[float, int]] = []
        while True:
            time.sleep(1.0)
            now, count = time.perf_counter() - started, done.count()
            samples.append((now, count))
            if count >= recipients or now > window:
                break
        if count >= recipients:
            return recipients / samples[-1][0], f"the whole batch of {recipients:,} in {samples[-1][0]:.0f} s"
        t0, c0 = next(s for s in samples if s[0] >= window * 0.2)
        t1, c1 = samples[-1]
        batches.cancel_task(task)
        return (c1 - c0) / (t1 - t0), (
            f"{recipients:,}-recipient batch, steady rate over {t1 - t0:.0f} s after {t0:.0f} s "
            f"({c1:,} delivered when stopped, task cancelled)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--batch-seconds", type=float, default=300)
    parser.add_argument("--only", default="delivery,peer,batch")
    parser.add_argument("--json-out")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--status", help=argparse.SUPPRESS)
    parser.add_argument("--peer-run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        return run_sink(args.sink, args.status)
    if args.peer_run:
        return run_peer(args.peer_run, args.round)

    setup_path()
    url = require_postgres()
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        sys.exit("Set CELERY_BROKER_URL to a Redis database of the benchmark's own, e.g. redis://127.0.0.1:6379/11")
    peer_url = f"{url}_peer"
    from common import ensure_database

    ensure_database(peer_url)
    only = set(args.only.split(","))

    port, status = free_port(), f"/tmp/bench-delivery-sink-{os.getpid()}"
    sink = subprocess.Popen([PYTHON, __file__, "--sink", str(port), "--status", status], cwd=ROOT)
    time.sleep(1.5)
    bench = Bench(port)
    rows, notes = [], []
    try:
        bench.start_workers()
        bench.deliver(bench.queue(200))  # warm-up: the workers are up, keys and templates loaded
        ours, base, peer = [], [], []
        n = args.messages
        if only & {"delivery", "peer"}:
            for r in range(args.rounds):
                ours.append(n / bench.deliver(bench.queue(n)))
                base.append(n / smtplib_loop(port, n))
                line = f"round {r + 1}: sesconsole {ours[-1]:,.0f} msg/s, smtplib {base[-1]:,.0f} msg/s"
                if "peer" in only:
                    result = peer_round(port, n, r, peer_url)
                    if result["sent"] != n:
                        raise SystemExit(f"post_office sent {result['sent']} of {n}")
                    peer.append(n / result["send_s"])
                    line += f", post_office {peer[-1]:,.0f} msg/s (queueing took {result['queue_s']:.1f} s)"
                print(line, flush=True)
            sample = Path(status + ".first").read_bytes()
            notes.append("DKIM verified on a received sample" if _verifies(sample, bench.domain) else "DKIM NOT VERIFIED")
        if "delivery" in only:
            ratio = median(ours) / median(base)
            rows.append(row("delivery, 2 workers", f"{median(ours):,.0f} msg/s", f"{median(base):,.0f} msg/s", ratio,
                            "≥ 0.5 of the baseline", ratio >= 0.5,
                            f"{n:,} messages × {args.rounds} rounds via send_email, 2 Celery workers, "
                            f"PostgreSQL + Redis, DKIM 1024; {notes[0]}"))
        if "peer" in only:
            ratio = median(ours) / median(peer)
            rows.append(row("delivery vs peer", f"{median(ours):,.0f} msg/s", f"{median(peer):,.0f} msg/s", ratio,
                            "≥ 2× the peer", ratio >= 2,
                            f"django-post-office send_queued_mail, 2 processes, {n:,} messages × {args.rounds}; "
                            "the peer signs no DKIM"))
        if "batch" in only:
            rate, how = bench.batch(args.recipients, args.batch_seconds)
            base.append(args.messages / smtplib_loop(port, args.messages))
            print(f"batch: {rate:,.0f} msg/s ({how}); smtplib {base[-1]:,.0f} msg/s", flush=True)
            ratio = rate / median(base)
            rows.append(row("batch dispatch", f"{rate:,.0f} msg/s", f"{median(base):,.0f} msg/s", ratio,
                            "≥ 0.4 of the delivery baseline", ratio >= 0.4, f"{how}; level-20 domain, 2 workers"))
    finally:
        bench.stop_workers()
        sink.send_signal(signal.SIGTERM)
        sink.wait(10)
    for r in rows:
        print(f"{r['scenario']}: {r['measured']} vs {r['baseline']} → {r['ratio']} ({r['goal']}: "
              f"{'met' if r['met'] else 'NOT met'}) — {r['notes']}")
    write_rows(args.json_out, rows)


def _verifies(raw: bytes, domain) -> bool:
    import dkim

    from domains.services import records_for

    published = {r.host: r.value for r in records_for(domain)}
    return bool(dkim.verify(raw, dnsfunc=lambda name, timeout=5: (published.get(name.decode().rstrip(".")) or "").encode()
                            or None))


if __name__ == "__main__":
    main()
