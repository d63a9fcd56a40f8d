"""A real Celery worker, started as its own process, runs `sesconsole.tick` sent through the broker.

The worker runs against the broker this suite is configured with: the embedded filesystem broker
(in a private folder) by default, Redis when CELERY_BROKER_URL says so (CI). It needs the test
database from another process, so the test is transactional (its rows are committed):
- PostgreSQL: the worker connects to the test database by name;
- SQLite: the test database lives in this process's memory, where no other process can see it, so
  the worker gets a copy on disk and, when it is done, the copy is read back into the test database.
  The data is the test's own either way, and what the test asserts went through the worker.
A private queue keeps the test's messages apart from any other worker on the same broker.
"""

import os
import sqlite3
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

from ops import periodic
from ops.models import PeriodicJobRun
from sesconsole.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(settings.BASE_DIR)
STARTUP_SECONDS = 90


class SharedDatabase:
    """The test database as another process reaches it."""

    def __init__(self, tmp_path: Path):
        self.copy = None
        if connection.vendor == "postgresql":
            db = connection.settings_dict
            auth = quote(db["USER"] or "", safe="") + (":" + quote(db["PASSWORD"], safe="") if db["PASSWORD"] else "")
            self.url = f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
        elif connection.vendor == "sqlite":
            self.copy = tmp_path / "worker.sqlite3"
            connection.ensure_connection()
            with sqlite3.connect(self.copy) as disk:
                connection.connection.backup(disk)
            disk.close()
            self.url = f"sqlite:///{self.copy}"
        else:
            pytest.skip(f"no way to share a {connection.vendor} test database with a worker process")

    def read_back(self) -> None:
        if self.copy is not None:
            disk = sqlite3.connect(self.copy)
            try:
                disk.backup(connection.connection)
            finally:
                disk.close()


class Worker:
    """`celery -A sesconsole worker` in its own process, with its output collected line by line."""

    def __init__(self, env: dict[str, str], queue: str):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "sesconsole", "worker", "--queues", queue,
                "--concurrency", "1", "--loglevel", "INFO", "--hostname", f"{queue}@%h",
                "--without-mingle", "--without-gossip", "--without-heartbeat",
            ],
            cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, text: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return True
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                return any(text in line for line in self.lines)
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # a warm shutdown: the worker finishes its task and closes connections
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-60:])


def test_a_worker_process_runs_the_tick_sent_through_the_broker(tmp_path):
    database = SharedDatabase(tmp_path)
    queue = f"test-tick-{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "DATABASE_URL": database.url, "SES_DATA_DIR": str(tmp_path / "data")}
    transport_options = None
    if settings.CELERY_BROKER_URL == "filesystem://":
        # The worker's settings put the broker under its SES_DATA_DIR; send to the same folders.
        broker = tmp_path / "data" / "broker"
        transport_options = {
            "data_folder_in": str(broker / "queue"), "data_folder_out": str(broker / "queue"),
            "processed_folder": str(broker / "processed"), "control_folder": str(broker / "control"),
            "store_processed": False,
        }
        for folder in ("queue", "processed", "control"):
            (broker / folder).mkdir(parents=True, exist_ok=True)

    worker = Worker(env, queue)
    try:
        assert worker.wait_for("ready.", STARTUP_SECONDS), f"the worker did not start:\n{worker.output}"
        with celery_app.connection_for_write(transport_options=transport_options or {}) as conn:
            celery_app.send_task("sesconsole.tick", queue=queue, connection=conn)
        assert worker.wait_for("succeeded", 60), f"the tick did not run:\n{worker.output}"
    finally:
        worker.stop()

    database.read_back()
    runs = {run.name: run for run in PeriodicJobRun.objects.all()}
    assert set(runs) == {job.name for job in periodic.JOBS}
    assert all(run.last_ok and run.runs == 1 for run in runs.values()), worker.output
    assert runs["close_days"].last_result == "no day to close"
