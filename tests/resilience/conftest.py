"""Fixtures of the fault tests: real Celery workers, and servers a test may stop and start.

The shared PostgreSQL and Redis on the standard ports serve other people and CI: no test here ever
stops them. A fault test gets its own:

    broker            a private `redis-server` on a free port (nothing saved: a restart loses every
                      queued task, as a crashed broker would); this process publishes to it, and so
                      do the workers the test starts.
    private_postgres  a private PostgreSQL cluster (initdb + pg_ctl, run as the `postgres` OS user
                      when we are root) holding a copy of the test database; this process, the live
                      server and the workers all use it, so stopping it is a real database outage.
    Worker            `celery worker` in its own process group, killable with SIGKILL; it consumes
                      every queue of core/queues.py unless given a role's queues.
    recover()         what the periodic jobs do (the outbox sweeper, re-dispatch of stalled batches),
                      run by the test in its wait loops at a short interval.

Everything here needs PostgreSQL: a worker process must share the test database, which SQLite keeps
in this process's memory. `SERVER_ONLY` marks and skips such tests on the embedded run.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.db.utils import InterfaceError, OperationalError

from core import queues as sesconsole_queues
from sesconsole.celery import app as celery_app
from tests.needs import missing

BASE_DIR = Path(settings.BASE_DIR)


def postgres_bin() -> Path | None:
    """The folder of the PostgreSQL server programs (initdb, pg_ctl): `pg_config --bindir`, else
    Debian's folder for the major version of the server the tests run against."""
    candidates = []
    if shutil.which("pg_config"):
        result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version_num")
            major = int(cursor.fetchone()[0]) // 10000
        candidates.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    return next((folder for folder in candidates if (folder / "initdb").exists()), None)


SERVER_ONLY = [
    pytest.mark.postgres(reason="worker processes must share the test database"),
    pytest.mark.django_db(transaction=True),
]

# How the tests' periodic jobs judge "stale": seconds instead of minutes, so recovery happens
# within the test. The workers keep EMAIL_TIMEOUT well below the claim timeout (settings check it).
FAST_RECOVERY = {
    "SES_SWEEP_QUEUED_AFTER_SECONDS": 4,
    "SES_SWEEP_CLAIM_TIMEOUT_SECONDS": 13,
    "SES_BATCH_STALL_SECONDS": 4,
}
WORKER_EMAIL_TIMEOUT = 2  # 6 × this < the claim timeout above: no live transaction looks dead


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Run in the child before exec: the kernel sends it SIGKILL when this process dies, even by
    SIGKILL, so no worker or redis-server outlives a killed pytest."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


DIE_WITH_PARENT = _die_with_parent if _LIBC is not None else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, seconds: float, what: str, *, every: float = 0.2, between=None) -> None:
    """Poll `condition` until it holds; `between` runs after each failed poll (e.g. recover)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if between is not None:
            between()
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


def database_url() -> str:
    """The URL of the database this process uses now (the private cluster once it is switched)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (":" + quote(db["PASSWORD"], safe="") if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


def recover(workers=None) -> None:
    """One run of the periodic recovery jobs, as `tick` would run them; survives a database outage.
    With `workers`, also what a process supervisor does (restart a worker that exited)."""
    if workers is not None:
        workers.supervise()
    from batches.services import redispatch_stalled_tasks
    from sending.sweeper import sweep_stale_messages

    try:
        sweep_stale_messages()
        redispatch_stalled_tasks()
    except (OperationalError, InterfaceError):
        connection.close()  # the database is down; the next run reconnects


def db_poll(condition):
    """A wait_until condition that is simply False while the database is unreachable."""

    def poll() -> bool:
        try:
            return condition()
        except (OperationalError, InterfaceError):
            connection.close()
            return False

    return poll


# --- Redis ----------------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of our own; stop() loses everything in it (no RDB, no AOF)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=DIE_WITH_PARENT,
        )
        wait_until(self._answers, 10, f"redis-server on port {self.port}", every=0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # a crash, not a shutdown: whatever it held is gone
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, down_for: float = 0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing ever answers (a hung server)."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def _point_celery_at(url: str) -> None:
    """Make this process (the test and the live server's threads) publish to `url`.

    Celery reads CELERY_BROKER_URL from the environment before its configuration: set both. The
    pools stay open: kombu keeps one per URL for the whole process, and other tests reuse them."""
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf.broker_url = url
    celery_app.conf.broker_write_url = None
    celery_app.conf.broker_read_url = None
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker(settings, tmp_path):
    """A private Redis as the broker of this process and of every worker the test starts."""
    if shutil.which("redis-server") is None:
        missing("redis-server on the PATH")
    redis = PrivateRedis(tmp_path)
    redis.start()
    saved = {key: celery_app.conf[key] for key in ("broker_url", "broker_transport_options")}
    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved["task_always_eager"] = celery_app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    if "data_folder_in" in (saved["broker_transport_options"] or {}):  # the run's broker is the embedded one
        celery_app.conf.broker_transport_options = {"visibility_timeout": 3600}
    _point_celery_at(redis.url)
    try:
        yield redis
    finally:
        _point_celery_at(saved["broker_url"])
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        celery_app.conf.broker_transport_options = saved["broker_transport_options"]
        celery_app.conf.task_always_eager = saved["task_always_eager"]
        redis.stop()


# --- PostgreSQL -----------------------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary folder; stop() is a real outage."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="ses-fault-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.directory, "postgres")

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run([*self.as_postgres, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stdout}{result.stderr}")

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C.UTF-8")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=60"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"),
                  "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """fast: the server ends every session and shuts down, as a restart by an operator does."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self, down_for: float = 0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def copy_database(self, source: dict) -> None:
        """The source database, schema and rows, into a database of the same name here."""
        name = source["NAME"]
        env = {**os.environ, "PGPASSWORD": source["PASSWORD"] or ""}
        psql = [str(self.bin / "psql"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        subprocess.run([*psql, "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
        dump = subprocess.Popen(
            [str(self.bin / "pg_dump"), "--no-owner", "--no-privileges", "-h", source["HOST"] or "127.0.0.1",
             "-p", str(source["PORT"] or 5432), "-U", source["USER"] or "postgres", "-d", name],
            stdout=subprocess.PIPE, env=env,
        )
        load = subprocess.run([*psql, "-d", name, "-v", "ON_ERROR_STOP=1"], stdin=dump.stdout, capture_output=True)
        dump.stdout.close()
        if dump.wait(timeout=60) != 0 or load.returncode != 0:
            raise RuntimeError(f"copying the test database failed: {load.stderr.decode()[-2000:]}")

    def remove(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def private_postgres(transactional_db):
    """The test database moved to a private cluster for this test: this process, the live server's
    threads (they share the connection settings) and the workers all use it from here on."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        missing("the PostgreSQL server programs (initdb, pg_ctl; found by `pg_config --bindir`)")
    server = PrivatePostgres(bin_dir)
    settings_dict = connection.settings_dict
    saved = {key: settings_dict[key] for key in ("HOST", "PORT", "USER", "PASSWORD")}
    try:
        server.init()
        server.start()
        connection.close()
        server.copy_database(settings_dict)
        settings_dict.update(HOST="127.0.0.1", PORT=str(server.port), USER="postgres", PASSWORD="")
        yield server
    finally:
        connection.close()
        settings_dict.update(saved)
        server.remove()


# --- workers --------------------------------------------------------------------------------------

LAUNCH = (
    "import sys\n"
    "from sesconsole.celery import app\n"
    "app.worker_main(['worker', '--concurrency', sys.argv[1], '--loglevel', 'INFO', '--hostname',\n"
    "                 sys.argv[2] + '@%h', '--queues', sys.argv[3], '--pool', sys.argv[4],\n"
    "                 '--without-mingle', '--without-gossip', '--without-heartbeat'])\n"
)


def worker_env(broker: PrivateRedis, smtp_sink, **extra) -> dict[str, str]:
    """What a worker of this test needs: the test's database and broker, and the sink as its relay."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sesconsole.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_HOST": smtp_sink.host, "EMAIL_PORT": str(smtp_sink.port), "EMAIL_USE_TLS": "false",
        "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": "", "EMAIL_TIMEOUT": str(WORKER_EMAIL_TIMEOUT),
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Worker:
    """A real `celery worker` in its own process group: by default one that consumes every queue
    (core/queues.py) with a prefork pool; `queues` and `pool` make it one of a role's workers."""

    def __init__(self, env: dict[str, str], name: str, concurrency: int = 2, queues: list[str] | None = None,
                 pool: str = "prefork"):
        self.name = name
        self.env = env
        self.concurrency = concurrency
        self.queues = queues or sesconsole_queues.ALL
        self.pool = pool
        self.ended_by_test = False
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(concurrency), name, ",".join(self.queues), pool], cwd=BASE_DIR, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            preexec_fn=DIE_WITH_PARENT,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_ready(self, seconds: float = 60) -> Worker:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            if any("ready." in line for line in self.lines):
                return self
            time.sleep(0.1)
        raise AssertionError(f"the worker {self.name} did not start:\n{self.output}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: nothing gets to clean up."""
        self.ended_by_test = True
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.ended_by_test = True
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-60:])


@pytest.fixture
def workers():
    """Start workers with workers.start(env, name); every one is stopped after the test."""
    started: list[Worker] = []

    class Workers:
        restarts: list[str] = []

        def start(self, env: dict[str, str], name: str, concurrency: int = 2, queues: list[str] | None = None,
                  pool: str = "prefork") -> Worker:
            worker = Worker(env, name, concurrency, queues, pool)
            started.append(worker)
            return worker.wait_ready()

        def supervise(self) -> int:
            """What a process supervisor (systemd Restart=always) does: start again every worker that
            exited on its own. Celery 5.7 + kombu on Redis may exit with "Unrecoverable error" when the
            broker dies while the worker holds unacknowledged tasks (celery/celery#10205)."""
            restarted = 0
            for worker in list(started):
                if not worker.ended_by_test and worker.process.poll() is not None:
                    worker.ended_by_test = True
                    self.restarts.append(worker.name)
                    self.start(worker.env, f"{worker.name}-again", worker.concurrency, worker.queues, worker.pool)
                    restarted += 1
            return restarted

        @property
        def output(self) -> str:
            return "\n".join(f"--- {w.name} ---\n{w.output}" for w in started)

    yield Workers()
    for worker in started:
        worker.stop()


@pytest.fixture
def fast_recovery(settings):
    """The periodic jobs' staleness thresholds of this process, in seconds (see FAST_RECOVERY)."""
    for key, value in FAST_RECOVERY.items():
        setattr(settings, key, value)


# --- what the tests send ------------------------------------------------------------------------

SENDER = "news@mail.alice.example"


@pytest.fixture
def news_template(account, verified_domain):
    """A sender address on the verified domain (raised to level 5, cap 10,000: these tests are about
    faults, not the cap) and an approved template."""
    from domains.models import SenderDomain
    from sending import services

    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=5)
    services.create_sender_address(account, SENDER, "Alice News")
    return services.create_template(account, name="News", subject="News for {{name}}", text="Hello {{name}}")


def sink_counts(smtp_sink) -> dict[str, int]:
    """How many times each recipient reached the relay."""
    counts: dict[str, int] = {}
    for envelope in list(smtp_sink.received):
        for recipient in envelope.rcpt_tos:
            counts[recipient] = counts.get(recipient, 0) + 1
    return counts


def batch_finished(task) -> bool:
    from batches.models import BatchTask
    from sending.models import Message

    task.refresh_from_db()
    return task.status == BatchTask.DONE and not Message.objects.filter(batch_task=task).exclude(
        status__in=Message.FINAL
    ).exists()


def describe_batch(task, smtp_sink) -> str:
    from sending.models import Message

    try:
        task.refresh_from_db()
    except (OperationalError, InterfaceError):
        connection.close()
    statuses: dict[str, int] = {}
    for status in Message.objects.filter(batch_task=task).values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    return f"task status {task.status}, sent {task.send_count}, messages {statuses}, sink {len(smtp_sink.received)}"


def assert_each_recipient_delivered_once(messages, smtp_sink, *, allowed_twice: int) -> dict[str, int]:
    """Every message delivered and counted once; at the relay, each recipient once, save at most
    `allowed_twice` that were inside their SMTP transaction when the fault struck — and the database
    knows those: each has the sweeper's "retry" event. Returns the recipients seen twice."""
    from domains.models import DomainDay
    from sending.models import MessageEvent

    total = messages.count()
    recipients = set(messages.values_list("recipient", flat=True))
    assert len(recipients) == total, "a recipient has two messages"
    assert not messages.exclude(status="delivered").exists(), list(
        messages.exclude(status="delivered").values_list("recipient", "status")[:10]
    )
    received = sink_counts(smtp_sink)
    assert set(received) == recipients, (
        f"missing at the relay: {sorted(recipients - set(received))[:10]}, unexpected: {sorted(set(received) - recipients)[:10]}"
    )
    twice = {r: n for r, n in received.items() if n > 1}
    assert len(twice) <= allowed_twice and all(n == 2 for n in twice.values()), twice
    resent = set(
        MessageEvent.objects.filter(message__in=messages, kind="retry").values_list("message__recipient", flat=True)
    )
    assert set(twice) <= resent, f"sent twice without having been interrupted inside SMTP: {set(twice) - resent}"
    # The day's counters saw each message once, however often its task ran.
    day = DomainDay.objects.get(domain_id=messages.first().domain_id)
    assert (day.sent, day.delivered) == (total, total)
    return twice


# --- the official SDK against the live server -----------------------------------------------------

SDK_TIMEOUT = 20  # seconds: a request that takes longer counts as hanging


@pytest.fixture
def ses(live_server, account):
    """The official SDK, signed with a new key of `account`, talking HTTP to the live server."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.ses.v20201002 import ses_client

    from accounts.models import ApiKey

    key, secret = ApiKey.issue(account)
    host, port = live_server.thread.host, live_server.thread.port
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=f"{host}:{port}", reqTimeout=SDK_TIMEOUT))
    return ses_client.SesClient(credential.Credential(key.secret_id, secret), "ap-guangzhou", profile)


def send_email(ses, template, to: str) -> str:
    """One SendEmail of `template` to `to` through the SDK; its MessageId (the SDK raises on an error)."""
    import json

    from tencentcloud.ses.v20201002 import models

    req = models.SendEmailRequest()
    req.FromEmailAddress = f"Alice News <{SENDER}>"
    req.Destination = [to]
    req.Template = models.Template()
    req.Template.TemplateID = template.pk
    req.Template.TemplateData = json.dumps({"name": to.split("@")[0]})
    return ses.SendEmail(req).MessageId


def start_relay_again(smtp_sink) -> None:
    """Bring a stopped smtp_sink back on the same port (an aiosmtpd Controller cannot start twice)."""
    from aiosmtpd.controller import Controller

    smtp_sink._controller = Controller(smtp_sink, hostname=smtp_sink.host, port=smtp_sink.port)
    smtp_sink.start()
