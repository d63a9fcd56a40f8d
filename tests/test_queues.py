"""The queues (core/queues.py): every task has a queue some worker consumes, and slow work
(callbacks, list imports) never shares a queue or a worker with delivery."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from core import queues
from sesconsole.celery import app as celery_app


def queue_of(task_name: str) -> str:
    return celery_app.amqp.router.route({}, task_name)["queue"].name


def our_tasks() -> list[str]:
    celery_app.loader.import_default_modules()
    return sorted(name for name in celery_app.tasks if not name.startswith("celery."))


def test_every_task_of_the_project_goes_to_a_queue_some_worker_consumes():
    names = our_tasks()

    assert {"sending.deliver", "batches.dispatch", "notify.deliver_callback", "batches.import_list",
            "sesconsole.tick"} <= set(names)
    assert all(queue_of(name) in queues.ALL for name in names), {name: queue_of(name) for name in names}


@pytest.mark.parametrize(("task", "queue"), [
    ("sending.deliver", queues.DELIVERY),
    ("batches.dispatch", queues.DISPATCH),
    ("notify.deliver_callback", queues.CALLBACKS),
    ("notify.retry_callbacks", queues.CALLBACKS),
    ("batches.import_list", queues.IMPORTS),
    ("sesconsole.tick", queues.PERIODIC),
])
def test_each_kind_of_work_has_its_own_queue(task, queue):
    assert queue_of(task) == queue
    assert settings.CELERY_TASK_ROUTES is queues.ROUTES


def test_callbacks_and_imports_are_consumed_by_a_worker_that_does_not_deliver():
    delivery, background = set(queues.WORKERS["delivery"]), set(queues.WORKERS["background"])

    assert {queues.DELIVERY, queues.DELIVERY_BACKLOG, queues.DISPATCH, queues.PERIODIC} == delivery
    assert {queues.CALLBACKS, queues.CALLBACKS_BACKLOG, queues.IMPORTS} == background
    assert len(queues.ALL) == len(set(queues.ALL))


def test_a_worker_started_without_queues_consumes_every_queue():
    # The worker command of earlier versions had no -Q: after an upgrade it must still deliver,
    # not consume only the default queue while the others fill up.
    assert set(celery_app.amqp.queues.consume_from or celery_app.amqp.queues) == set(queues.ALL)


def test_the_worker_commands_read_their_queues_from_one_place():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "core.queues", *args], capture_output=True, text=True,
                              cwd=settings.BASE_DIR)

    assert run("delivery").stdout.strip() == "delivery,delivery_backlog,dispatch,periodic"
    assert run("background").stdout.strip() == "callbacks,callbacks_backlog,imports"
    wrong = run("everything")
    assert wrong.returncode == 2 and "usage" in wrong.stderr


def test_the_worker_command_of_earlier_versions_still_prints_the_queues():
    # Supervisor files written before the helpers moved to core/ run `python -m sesconsole.queues ROLE`.
    for role, names in queues.WORKERS.items():
        result = subprocess.run([sys.executable, "-m", "sesconsole.queues", role], capture_output=True, text=True,
                                cwd=settings.BASE_DIR)
        assert result.stdout.strip() == ",".join(names)


def test_the_readme_starts_a_worker_for_each_role_with_its_queues():
    from pathlib import Path

    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    commands = [line.split() for line in readme.splitlines() if line.startswith("celery -A sesconsole worker")]
    consumed = sorted(command[command.index("-Q") + 1] for command in commands)

    assert consumed == sorted(",".join(names) for names in queues.WORKERS.values())


def test_a_worker_registers_every_task_without_loading_the_urls():
    # Autodiscovery imports `<app>.tasks` only; batches.lists.tasks (batches.import_list) is imported
    # by batches/apps.py. A fresh process that starts the app as a worker does, with Django's checks
    # off (CELERY_SKIP_CHECKS: they would load the URLs, and through the views the task module).
    code = (
        "from sesconsole.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print(app.tasks['batches.import_list'].run.__module__)\n"
        "print(','.join(sorted(name for name in app.tasks if not name.startswith('celery.'))))\n"
    )
    env = {**os.environ, "CELERY_SKIP_CHECKS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=settings.BASE_DIR, env=env)
    assert done.returncode == 0, done.stderr
    module, names = done.stdout.split()
    assert module == "batches.lists.tasks"
    assert set(names.split(",")) == set(our_tasks())
