"""core.enqueue: services start Celery tasks by name, after the commit of what the task will read."""

import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import transaction

from core.enqueue import enqueue_on_commit, publish
from notify import tasks


@pytest.fixture
def handed(monkeypatch):
    """(args, queue) of each hand-out of notify.deliver_callback, as the broker would receive it."""
    handed = []
    monkeypatch.setattr(
        tasks.deliver_callback, "apply_async",
        lambda args=(), kwargs=None, queue=None, **options: handed.append((tuple(args), queue)),
    )
    return handed


@pytest.mark.django_db
def test_a_task_is_published_by_name_once_the_transaction_commits(handed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit("notify.deliver_callback", 7)
        assert handed == []
    assert handed == [((7,), None)]  # no queue named: the task's route (core.queues.ROUTES) decides


@pytest.mark.django_db
def test_a_rolled_back_transaction_publishes_nothing(handed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_on_commit("notify.deliver_callback", 7)
            raise RuntimeError("rolled back")
    assert (callbacks, handed) == ([], [])


@pytest.mark.django_db
def test_a_queue_is_named_or_chosen_when_the_task_is_published(handed, django_capture_on_commit_callbacks):
    chosen = []

    def choose() -> str:
        chosen.append(len(handed))
        return "callbacks_backlog"

    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit("notify.deliver_callback", 1, queue="callbacks")
        enqueue_on_commit("notify.deliver_callback", 2, queue=choose)
        assert chosen == []  # not asked before the commit: it may count what the transaction wrote
    assert handed == [((1,), "callbacks"), ((2,), "callbacks_backlog")]
    assert chosen == [1]


@pytest.mark.django_db
def test_a_broker_that_is_down_fails_the_hand_out_never_the_commit(monkeypatch, caplog, django_capture_on_commit_callbacks):
    def down(*args, **options):
        raise ConnectionRefusedError("the broker is down")

    monkeypatch.setattr(tasks.deliver_callback, "apply_async", down)
    with caplog.at_level(logging.ERROR, logger="core.enqueue"), django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit("notify.deliver_callback", 7)
    assert "could not enqueue notify.deliver_callback (7,)" in caplog.text
    with pytest.raises(ConnectionRefusedError):  # publish now (a periodic job's hand-out): the job fails
        publish("notify.deliver_callback", 7)


def test_a_process_that_never_imported_the_tasks_module_finds_the_task_by_name():
    # A web process: no service imports a tasks module, so its first hand-out finds the task by
    # Celery's autodiscovery of the installed apps (here to a broker in memory).
    code = (
        "import django; django.setup()\n"
        "import sys\n"
        "from core.enqueue import publish\n"
        "assert 'sending.tasks' not in sys.modules, 'a module imported at start-up imports sending.tasks'\n"
        "publish('sending.deliver', [1, 2])\n"
        "print('sending.tasks' in sys.modules)\n"
    )
    env = {**os.environ, "CELERY_BROKER_URL": "memory://", "DJANGO_SETTINGS_MODULE": "sesconsole.settings"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=settings.BASE_DIR,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
