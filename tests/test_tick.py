"""`manage.py tick` and the `sesconsole.tick` task: run the periodic jobs that are due, once each."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from domains.models import ClosedDay, SenderDomain
from domains.reputation.services import record_outcome, reserve_quota
from domains.services import create_domain
from ops import periodic
from ops.models import PeriodicJobRun
from ops.tasks import tick as tick_task
from tests.dnsstub import dns_stub  # noqa: F401  (the fixture)

NOON = dt.datetime(2030, 3, 10, 12, 0, tzinfo=dt.UTC)


def tick(*args: str) -> str:
    out = StringIO()
    call_command("tick", *args, stdout=out)
    return out.getvalue()


def ran(output: str) -> set[str]:
    return {line.split(":", 1)[0] for line in output.splitlines() if ":" in line}


def broken_job():
    raise RuntimeError("the relay is on fire")


@pytest.fixture(autouse=True)
def two_jobs(monkeypatch):
    """The tick's mechanics, shown on the two jobs of the reputation engine; other jobs come and go."""
    monkeypatch.setattr(
        periodic, "JOBS", [j for j in periodic.JOBS if j.name in {"close_days", "verify_pending_domains"}]
    )


@pytest.fixture
def clock():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


@pytest.mark.django_db
def test_the_first_tick_runs_every_job_and_records_it(clock):
    output = tick()

    assert ran(output) == {"close_days", "verify_pending_domains"}
    assert "close_days: no day to close" in output
    runs = {r.name: r for r in PeriodicJobRun.objects.all()}
    assert runs["close_days"].last_started_at == NOON
    assert runs["close_days"].last_ok is True
    assert runs["verify_pending_domains"].last_result == "no pending domain"


@pytest.mark.django_db
def test_it_runs_nothing_that_is_not_due_yet(clock):
    tick()
    clock.shift(dt.timedelta(minutes=1))

    assert tick().strip() == "Nothing was due."
    assert PeriodicJobRun.objects.get(name="close_days").runs == 1


@pytest.mark.django_db
def test_it_runs_only_the_jobs_whose_interval_has_passed(clock):
    tick()
    clock.shift(dt.timedelta(minutes=6))

    assert ran(tick()) == {"close_days"}
    clock.shift(dt.timedelta(minutes=5))
    assert ran(tick()) == {"close_days", "verify_pending_domains"}


@pytest.mark.django_db
def test_all_runs_every_job_even_when_none_is_due(clock):
    tick()
    clock.shift(dt.timedelta(seconds=10))

    assert ran(tick("--all")) == {"close_days", "verify_pending_domains"}
    assert PeriodicJobRun.objects.get(name="verify_pending_domains").runs == 2


@pytest.mark.django_db
def test_a_job_another_tick_is_running_is_not_run_again(clock):
    tick()
    clock.shift(dt.timedelta(minutes=11))
    # Another tick has just claimed the job and is still running it.
    job = periodic.job_named("close_days")
    assert periodic.claim(job, dt.datetime.now(dt.UTC)) is True

    assert ran(tick("--all")) == {"verify_pending_domains"}
    assert periodic.claim(job, dt.datetime.now(dt.UTC)) is False


@pytest.mark.django_db
def test_a_run_that_never_finished_is_taken_over_after_its_timeout(clock):
    job = periodic.job_named("close_days")
    assert periodic.claim(job, dt.datetime.now(dt.UTC))  # its worker died mid-run
    clock.shift(dt.timedelta(minutes=30))
    assert "close_days" not in ran(tick())

    clock.shift(job.timeout)
    assert "close_days" in ran(tick())


@pytest.mark.django_db
def test_a_failing_job_is_recorded_and_the_others_still_run(clock, monkeypatch):
    monkeypatch.setattr(
        periodic, "JOBS", [periodic.Job("broken", dt.timedelta(minutes=1), "tests.test_tick.broken_job"), *periodic.JOBS]
    )

    with pytest.raises(CommandError, match="1 periodic job\\(s\\) failed: broken"):
        tick()

    broken = PeriodicJobRun.objects.get(name="broken")
    assert broken.last_ok is False
    assert broken.last_result == "RuntimeError: the relay is on fire"
    assert PeriodicJobRun.objects.get(name="close_days").last_ok is True


@pytest.mark.django_db
def test_close_days_closes_yesterday_on_the_first_tick_after_midnight(clock, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=3)
    verified_domain.refresh_from_db()
    clock.move_to(dt.datetime(2030, 3, 10, 23, 57, tzinfo=dt.UTC))
    reserve_quota(verified_domain, [f"r{i}@gmail.com" for i in range(400)])
    record_outcome(verified_domain, dt.date(2030, 3, 10), "delivered", "r@gmail.com", n=360)
    record_outcome(verified_domain, dt.date(2030, 3, 10), "invalid", "r@gmail.com", n=40)  # 10%: D1
    assert "close_days: no day to close" in tick()

    clock.move_to(dt.datetime(2030, 3, 11, 0, 1, tzinfo=dt.UTC))
    assert "close_days" not in tick()  # midnight has passed, but the job ran 4 minutes ago
    clock.move_to(dt.datetime(2030, 3, 11, 0, 2, tzinfo=dt.UTC))
    output = tick()

    assert "close_days: closed 2030-03-10: 1 domains, 1 downgraded" in output
    assert ClosedDay.objects.filter(day=dt.date(2030, 3, 10)).exists()
    verified_domain.refresh_from_db()
    assert verified_domain.level == 2
    change = verified_domain.level_changes.get()
    assert (change.rule, change.effective_at) == ("D1", dt.datetime(2030, 3, 11, tzinfo=dt.UTC))


@pytest.mark.django_db
def test_verify_pending_domains_verifies_a_domain_whose_records_appeared(clock, account, dns_stub):  # noqa: F811
    domain = create_domain(account, "news.alice.example")
    tick()
    assert SenderDomain.objects.get(pk=domain.pk).status == SenderDomain.PENDING

    dns_stub.publish(domain)
    clock.shift(dt.timedelta(minutes=10))
    output = tick()

    assert "verify_pending_domains: checked 1 domain(s), 1 now verified" in output
    assert SenderDomain.objects.get(pk=domain.pk).is_verified


@pytest.mark.django_db
def test_the_celery_task_runs_the_same_due_jobs(clock):
    assert tick_task() == ["close_days: no day to close", "verify_pending_domains: no pending domain"]
    assert tick_task() == []


@pytest.mark.django_db
def test_every_registered_job_runs_cleanly_on_an_empty_platform(clock, monkeypatch):
    monkeypatch.undo()  # all the jobs, not just two
    registered = {job.name for job in periodic.JOBS}
    assert ran(tick("--all")) == registered
    assert all(run.last_ok for run in PeriodicJobRun.objects.all())


def test_every_job_is_a_plain_function_outside_the_tasks_modules(monkeypatch):
    # One style: a job is a function of a service module that returns its summary; beat sends only
    # the tick (sesconsole/celery.py), and no Celery task is a job in disguise.
    from celery import Task
    from django.utils.module_loading import import_string

    from sesconsole.celery import app

    monkeypatch.undo()  # all the jobs
    for job in periodic.JOBS:
        module = job.target.rsplit(".", 1)[0]
        assert module.rsplit(".", 1)[-1] != "tasks", job
        target = import_string(job.target)
        assert callable(target) and not isinstance(target, Task), job
    app.finalize()
    assert [entry["task"] for entry in app.conf.beat_schedule.values()] == ["sesconsole.tick"]
