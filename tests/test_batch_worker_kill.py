"""Crash safety of batch dispatch (issue 4): a real worker killed with SIGKILL in the middle of a
batch loses no recipient, and after recovery each recipient has exactly one message in a final state.

Why it holds: a chunk's messages and the task's cursor commit together (a killed chunk rolls back
and is redone); delivery commits smtp_started_at before each SMTP transaction and never re-sends
such a message until its claim has timed out (a live worker would long have finished it); then it is
sent again, so the only recipients that may reach the relay twice are the ones inside an SMTP
transaction at the instant of the kill — at most one per pool process (SPEC §4.3).

PostgreSQL and Redis only: the worker must share the test database and the broker for real.
"""

import collections
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from batches import services
from batches.models import BatchTask
from batches.tests.batch_fixtures import SENDER, make_list
from domains.models import SenderDomain
from sending import services as sending_services
from sending.delivery import sweep_stale_messages
from sending.models import Message
from sesconsole.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(settings.BASE_DIR)
RECIPIENTS = 2000
CHUNK = 50
CONCURRENCY = 4
LAUNCH = (
    "import os, sys\n"
    "from sesconsole.celery import app\n"
    "queue = os.environ['BATCH_TEST_QUEUE']\n"
    # Tasks the worker sends itself (the next chunk, deliveries) stay on the private queue.
    "app.conf.task_default_queue = queue\n"
    "app.worker_main(['worker', '--queues', queue, '--concurrency', sys.argv[1], '--loglevel', 'INFO',\n"
    "                 '--hostname', queue + '-' + sys.argv[2] + '@%h', '--without-mingle', '--without-gossip',\n"
    "                 '--without-heartbeat'])\n"
)


class Worker:
    def __init__(self, env: dict[str, str], name: str):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(CONCURRENCY), name], cwd=BASE_DIR, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            if any("ready." in line for line in self.lines):
                return
            time.sleep(0.1)
        raise AssertionError("the worker did not start:\n" + self.output)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: nothing gets to clean up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-40:])


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def private_queue():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a worker process must share the test database (set DATABASE_URL)")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs Redis: a killed worker must leave its tasks in a real broker (set CELERY_BROKER_URL)")
    queue = f"test-batch-kill-{uuid.uuid4().hex[:10]}"
    before = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue  # what this process enqueues goes to the test's workers
    try:
        yield queue
    finally:
        celery_app.conf.task_default_queue = before
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


def test_a_worker_killed_mid_batch_loses_no_recipient_and_sends_each_once(
    private_queue, account, verified_domain, smtp_sink, settings
):
    # Level 5 (cap 10,000): this test is about the kill, not the cap.
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=5)
    sending_services.create_sender_address(account, SENDER, "Alice News")
    template = sending_services.create_template(account, name="News", subject="News for {{name}}", text="Hello {{name}}")
    receiver_list = make_list(account, RECIPIENTS)

    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (":" + quote(db["PASSWORD"], safe="") if db["PASSWORD"] else "")
    env = {
        **os.environ, "BATCH_TEST_QUEUE": private_queue,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}",
        "EMAIL_HOST": smtp_sink.host, "EMAIL_PORT": str(smtp_sink.port), "EMAIL_USE_TLS": "false",
        "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": "", "SES_BATCH_CHUNK": str(CHUNK),
    }
    started = time.monotonic()
    first = Worker(env, "first")
    second = None
    try:
        first.wait_ready()
        task = services.create_task(
            account, from_address=SENDER, receiver_list_id=receiver_list.pk, template_id=template.pk
        )
        try:
            wait_until(lambda: len(smtp_sink.received) >= RECIPIENTS // 5, 40, "the first worker to deliver a fifth")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; sink has {len(smtp_sink.received)}\n{first.output}") from None
        print(f"kill after {time.monotonic() - started:.1f}s")
        first.kill()
        killed_at = len(smtp_sink.received)
        task.refresh_from_db()
        assert task.status == BatchTask.SENDING and task.send_count < RECIPIENTS, "the kill came too late to prove anything"

        # Recovery, while no worker runs: what the periodic jobs do once their timeouts have passed.
        later = timezone.now() + dt.timedelta(seconds=settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS + 60)
        sweep_stale_messages(now=later)
        services.redispatch_stalled_tasks(now=later)

        second = Worker(env, "second")
        second.wait_ready()

        def finished() -> bool:
            task.refresh_from_db()
            return task.status == BatchTask.DONE and not Message.objects.filter(batch_task=task).exclude(
                status__in=Message.FINAL
            ).exists()

        try:
            wait_until(finished, max(10, 85 - (time.monotonic() - started)), "the second worker to finish the batch")
        except AssertionError:
            counts = collections.Counter(Message.objects.filter(batch_task=task).values_list("status", flat=True))
            raise AssertionError(
                f"the batch did not finish: task {task.status} sent {task.send_count}, messages {dict(counts)}, "
                f"sink {len(smtp_sink.received)} (killed at {killed_at})\n{second.output}"
            ) from None
    finally:
        first.kill()
        if second is not None:
            second.stop()

    messages = Message.objects.filter(batch_task=task)
    assert (task.send_count, task.cache_count) == (RECIPIENTS, 0)
    assert messages.count() == RECIPIENTS
    assert messages.values("recipient").distinct().count() == RECIPIENTS
    assert not messages.exclude(status__in=Message.FINAL).exists()

    received = collections.Counter(r for envelope in smtp_sink.received for r in envelope.rcpt_tos)
    duplicates = {r: n for r, n in received.items() if n > 1}
    # Every recipient reached the relay and is recorded delivered once; only a message inside its
    # SMTP transaction at the kill may have gone out twice: at most one per pool process.
    assert set(received) == set(messages.values_list("recipient", flat=True))
    assert messages.filter(status=Message.DELIVERED).count() == RECIPIENTS
    assert len(duplicates) <= CONCURRENCY and all(n == 2 for n in duplicates.values()), duplicates
    print(f"killed after {killed_at} received; duplicates after recovery: {len(duplicates)}")
    assert 0 < killed_at < RECIPIENTS
