"""Batch dispatch rate to a local SMTP sink, beside a plain smtplib loop to the same sink.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sesconsole_bench \
        .venv/bin/python bench/batch_dispatch.py --recipients 5000

It builds a level-20 domain, a recipient list and a batch task in a scratch database (migrated on
the way; use a database of its own), then runs the real code in this process: dispatch_chunk until
the list is exhausted, and deliver_messages in groups of 50 (one SMTP connection per group, as the
workers do), DKIM on. The baseline sends the same number of messages with smtplib over one reused
connection. Both go to the same aiosmtpd sink on 127.0.0.1. Prints messages/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sesconsole.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=5000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from tests.smtpsink import SmtpSink

    sink = SmtpSink()
    sink.start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    call_command("migrate", verbosity=0)

    from accounts.models import Account
    from batches import services as batches
    from batches.lists import add_receivers, create_list
    from batches.models import BatchTask
    from domains.models import SenderDomain
    from domains.services import create_domain
    from sending import services as sending
    from sending.delivery import deliver_messages
    from sending.models import Message

    # This process plays the worker: nothing goes to the broker, the loops below do the work.
    batches._enqueue_dispatch = lambda task_id: None
    batches.enqueue = lambda ids: None

    stamp = str(int(time.time()))
    account = Account.objects.create(name=f"bench {stamp}")
    domain = create_domain(account, f"bench{stamp}.example")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED, level=20)
    sending.create_sender_address(account, f"news@bench{stamp}.example", "Bench")
    template = sending.create_template(
        account, name="bench", subject="Hello {{name}}", html="<p>Hello {{name}}</p>", text="Hello {{name}}",
        transactional=True,
    )
    receivers = create_list(account, f"bench {stamp}")
    add_receivers(receivers, [(f"r{i}@example.org", {"name": f"R{i}"}) for i in range(args.recipients)])

    n = args.recipients
    started = started_ours = time.perf_counter()
    task = batches.create_task(
        account, from_address=f"news@bench{stamp}.example", receiver_list_id=receivers.pk, template_id=template.pk
    )
    while BatchTask.objects.get(pk=task.pk).status == BatchTask.SENDING:
        batches.dispatch_chunk(task.pk)
    dispatched = time.perf_counter()
    ids = list(Message.objects.filter(batch_task=task).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), 50):
        deliver_messages(ids[start : start + 50])
    ours = time.perf_counter() - started
    delivered = Message.objects.filter(batch_task=task, status=Message.DELIVERED).count()

    before = len(sink.received)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for i in range(n):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "news@example.org", f"b{i}@example.org", f"Hello B{i}"
            msg.set_content(f"Hello B{i}")
            smtp.send_message(msg)
    baseline = time.perf_counter() - started
    sink.stop()

    print(f"recipients: {n}; delivered by sesconsole: {delivered}; baseline received {len(sink.received) - before}")
    print(f"sesconsole batch, dispatch + delivery: {n / ours:,.0f} messages/s ({ours:.1f} s; "
          f"dispatch alone {dispatched - started_ours:.1f} s)")
    print(f"baseline smtplib loop, one connection: {n / baseline:,.0f} messages/s ({baseline:.1f} s)")
    print(f"ratio: {(n / ours) / (n / baseline):.2f}")


if __name__ == "__main__":
    main()
