"""Periodic work: which jobs exist, how often each is due, and running the due ones once.

Beat sends one task, `sesconsole.tick` (ops/tasks.py), every SES_TICK_SECONDS; cron-based installs
run `manage.py tick` instead. Either way `run_due_jobs` decides what is due from the PeriodicJobRun
rows in the database, so two schedulers by mistake (a beat on two machines, beat plus cron) still
run each job once per interval.

A new kind of periodic work is one line in JOBS and one function that returns a short summary:
a plain function of a service module of its app (never a Celery task, never in a tasks module),
which hands any slow work to a queue (core.enqueue) rather than doing it inside the tick.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from ops.models import PeriodicJobRun

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    interval: dt.timedelta
    target: str  # "module.function", imported when the job runs
    # A run that has not finished after this long is presumed dead (its worker was killed) and
    # may be claimed again; until then nobody else runs the job.
    timeout: dt.timedelta = dt.timedelta(hours=1)

    def run(self) -> str:
        return str(import_string(self.target)() or "done")


JOBS: list[Job] = [
    # Closing a day only does work just after midnight; checking often keeps that "just after".
    Job("close_days", dt.timedelta(minutes=5), "domains.jobs.close_days"),
    Job("verify_pending_domains", dt.timedelta(minutes=10), "domains.jobs.verify_pending_domains"),
    # Unverified domain claims are removed 7 days after they were made, so none blocks the name for long.
    Job("expire_domain_claims", dt.timedelta(minutes=10), "domains.jobs.expire_domain_claims"),
    # Re-enqueues messages the broker or a dead worker lost, and deferred ones that are due.
    Job("sweep_stale_messages", dt.timedelta(minutes=1), "sending.sweeper.sweep_stale_messages",
        timeout=dt.timedelta(minutes=10)),
    # Callbacks whose first POST failed (or whose task was lost) and members' cap warnings (SPEC §6.1).
    # The POSTs run on the callbacks queue (core/queues.py): the tick only hands them out.
    Job("retry_callbacks", dt.timedelta(minutes=1), "notify.services.hand_out_retry_callbacks"),
    Job("warn_domains_near_cap", dt.timedelta(minutes=1), "notify.services.warn_domains_near_cap"),
    # Batch tasks: paused ones resume 24 h after their pause (and lost dispatches are handed out
    # again); timed tasks and recurring rounds start on time (SPEC §3.5).
    Job("resume_paused_batches", dt.timedelta(minutes=1), "batches.services.resume_paused_batches",
        timeout=dt.timedelta(minutes=10)),
    Job("start_timed_batches", dt.timedelta(minutes=1), "batches.services.start_timed_batches",
        timeout=dt.timedelta(minutes=10)),
    # List uploads whose import task was lost (broker down at the upload, a killed worker).
    Job("requeue_stalled_imports", dt.timedelta(minutes=1), "batches.lists.uploads.requeue_stalled_imports",
        timeout=dt.timedelta(minutes=10)),
    # Rate-limit counters kept in the database (no Redis): the rows of ended windows.
    Job("delete_ended_rate_counts", dt.timedelta(minutes=5), "accounts.ratelimit.delete_ended_counts"),
    # Signatures the API accepted, kept in the database (no Redis) while their timestamp is valid.
    Job("delete_expired_signatures", dt.timedelta(minutes=5), "api.replay.delete_expired"),
    # Sessions past their expiry (they already sign nobody in): as `manage.py clearsessions`.
    Job("delete_expired_sessions", dt.timedelta(hours=1), "accounts.backends.delete_expired_sessions"),
]


@dataclass(frozen=True)
class JobResult:
    name: str
    ok: bool
    summary: str

    def __str__(self) -> str:
        return f"{self.name}: {self.summary}" if self.ok else f"{self.name}: FAILED: {self.summary}"


def job_named(name: str) -> Job:
    for job in JOBS:
        if job.name == name:
            return job
    raise KeyError(name)


def claim(job: Job, now: dt.datetime, *, force: bool = False) -> bool:
    """Mark `job` started at `now` if it may run; True when this caller won it.

    One conditional UPDATE: of two ticks racing for the same job, exactly one updates the row.
    `force` skips the interval but still never runs a job that is running elsewhere right now.
    """
    PeriodicJobRun.objects.get_or_create(name=job.name)
    not_running = (
        Q(last_started_at__isnull=True)
        | Q(last_finished_at__gte=F("last_started_at"))
        | Q(last_started_at__lte=now - job.timeout)
    )
    may_run = not_running if force else not_running & (
        Q(last_started_at__isnull=True) | Q(last_started_at__lte=now - job.interval)
    )
    updated = PeriodicJobRun.objects.filter(may_run, name=job.name).update(
        last_started_at=now, runs=F("runs") + 1
    )
    return updated == 1


def run_job(job: Job) -> JobResult:
    """Run a claimed job; a failure is recorded and logged, and never stops the other jobs."""
    try:
        result = JobResult(job.name, True, job.run())
    except Exception as exc:
        log.exception("periodic job %s failed", job.name)
        result = JobResult(job.name, False, f"{exc.__class__.__name__}: {exc}")
    PeriodicJobRun.objects.filter(name=job.name).update(
        last_finished_at=timezone.now(), last_ok=result.ok, last_result=result.summary[:2000]
    )
    log.info("periodic %s", result)
    return result


def run_due_jobs(*, force: bool = False) -> list[JobResult]:
    """Run, one after another, every job that is due (every job that is not running, with `force`)."""
    results = []
    for job in JOBS:
        if claim(job, timezone.now(), force=force):
            results.append(run_job(job))
    return results
