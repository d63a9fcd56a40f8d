"""Batch tasks (SPEC §3.5): creating them, dispatching their lists in chunks, pausing at the cap,
resuming 24 hours later, failing them when the account is frozen, cancelling them.

    create_task               validates like send_email, then starts (immediate) or waits (timed, recurring)
    dispatch_chunk            one chunk of the list: quota, Message rows and the cursor in one transaction
    resume_paused_batches     the periodic job: resume_due_tasks, then redispatch_stalled_tasks
    start_timed_batches       the periodic job: start_due_tasks
    resume_due_tasks          paused tasks whose resume_at has come
    start_due_tasks           timed tasks and recurring rounds whose time has come
    redispatch_stalled_tasks  sending tasks whose dispatch task was lost (broker, killed worker)
    fail_unsent_for_frozen_account   on domains.signals.account_frozen (SPEC §3.4)
    cancel_task, task_for_account, queue_status

Crash safety: the cursor (the last receiver turned into a message) moves in the same transaction
that writes the messages, so a worker killed in a chunk rolls the whole chunk back and the next
dispatch redoes it; a message row, once committed, is delivered by the sending pipeline and its
sweeper, which never sends a message twice.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, AccountFreeze
from batches.models import BatchSkip, BatchTask, Receiver, ReceiverList
from core.clock import platform_today
from core.enqueue import enqueue_on_commit
from domains.models import DomainDay
from domains.reputation.services import domains_today, reserve_up_to
from sending import services as sending
from sending.delivery import ENQUEUE_CHUNK
from sending.models import Message, MessageEvent, SensitiveWord, Suppression, Template
from sending.recording import message_event
from sending.review import review, review_send
from sending.review_text import translate_reason
from sending.writer import Recipient, write_messages

log = logging.getLogger(__name__)

PAUSE_FOR = dt.timedelta(hours=24)  # SPEC §3.5: resume 24 hours after the moment it paused
BEGIN_TIME_GRACE = dt.timedelta(minutes=1)  # a BeginTime "now" from a slow client is not in the past
MAX_INTERVAL_HOURS = 24 * 366

# dispatch_chunk results
MORE, DONE, PAUSED, FAILED, IDLE, GONE = "more", "done", "paused", "failed", "idle", "gone"


class BatchError(sending.SendError):
    """A refusal with the SDK's error code; nothing was written."""


def chunk_size() -> int:
    return settings.SES_BATCH_CHUNK


# --- creating ------------------------------------------------------------------------------------


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def create_task(
    account: Account, *, from_address: str, receiver_list_id: int, template_id: int, subject: str = "",
    task_type: int = BatchTask.IMMEDIATE, begin_time: dt.datetime | None = None, interval_hours: int | None = None,
    unsubscribe: int = 0, reply_to: str = "",
) -> BatchTask:
    """A batch task of an approved template to a ready list of the account (SPEC §3.5, §6).

    1. Check, in order, each with the SDK's code: the sender, its verified domain and its name
       (reviewed, sending.review_sender_name); the template
       (approved); the subject; the list (the account's, ready, not empty); the task type and its
       times; the options; the account not frozen.
    2. Immediate: sending at once, its first chunk enqueued after commit. Timed: waits for
       begin_time. Recurring: this task is the schedule; each round is a child task over the list.
    """
    try:
        from_name, from_email = sending._parse_from(from_address)
        sender = sending.sender_address_for_account(account, from_email)
        domain = sender.domain
        if not domain.is_verified:
            raise BatchError("FailedOperation.NotAuthenticatedSender", _("%(name)s is not verified; it cannot send.") % {"name": domain.name})
        sending.review_sender_name(from_name or sender.display_name, sending.current_send_rules())
        template = sending.template_for_account(account, template_id)
        reply_to = sending.clean_address(reply_to, what="reply-to address") if (reply_to or "").strip() else ""
    except sending.SendError as exc:
        raise BatchError(exc.code, exc.message) from None
    if template.status != Template.APPROVED:
        state = dict(Template.STATUSES)[template.status].lower()
        raise BatchError("OperationDenied.TemplateStatusError", _("Template %(pk)s is %(state)s; only approved templates send.") % {"pk": template.pk, "state": state})

    subject = (subject or "").strip() or template.subject
    if not subject or len(subject) > sending.MAX_SUBJECT or "\n" in subject or "\r" in subject:
        raise BatchError(
            "InvalidParameterValue.SubjectLengthError",
            _("The subject must be one line of 1 to %(MAX_SUBJECT)s characters (give Subject, or one in the template).") % {"MAX_SUBJECT": sending.MAX_SUBJECT},
        )
    if subject != template.subject:  # a subject given with the task was never reviewed
        words = list(SensitiveWord.objects.values_list("word", flat=True))
        verdict = review(subject, "", "", sensitive_words=words, transactional=True)
        if not verdict.approved:
            raise BatchError("InvalidParameterValue", _("The subject breaks a content rule: %(reason)s") % {"reason": translate_reason(verdict.reason)})

    receiver_list = _ready_list(account, receiver_list_id)
    begin_time, interval_hours = _check_schedule(task_type, _aware(begin_time), interval_hours)
    if unsubscribe not in sending.UNSUBSCRIBE_OPTIONS:
        raise BatchError("InvalidParameterValue", _("Unsubscribe must be 0 (none) to 12."))
    if account.is_frozen():
        raise BatchError(
            "FailedOperation.HighRejectionRate",
            _("Your account is frozen for the rest of today because of its bounce or spam rate; sending resumes tomorrow."),
        )

    now = timezone.now()
    count = receiver_list.receivers.count()
    task = BatchTask(
        account=account, domain=domain, sender=sender, from_name=from_name or sender.display_name, reply_to=reply_to,
        template=template, subject=subject, receiver_list=receiver_list, unsubscribe=unsubscribe,
        task_type=task_type, begin_time=begin_time, interval_hours=interval_hours,
        request_count=count, cache_count=count, created_at=now, updated_at=now,
    )
    with transaction.atomic():
        if task_type == BatchTask.RECURRING:
            task.next_run_at = begin_time
        elif task_type == BatchTask.IMMEDIATE or begin_time <= now:
            task.status, task.started_at = BatchTask.SENDING, now
        task.save()
        if task.status == BatchTask.SENDING:
            _enqueue_dispatch(task.pk)
    if task_type == BatchTask.RECURRING and begin_time <= now:
        start_due_tasks(now)
        task.refresh_from_db()
    return task


def _ready_list(account: Account, receiver_list_id: object) -> ReceiverList:
    if receiver_list_id in (None, "", 0):
        raise BatchError("MissingParameter.ReceiverIdNecessary", _("ReceiverId is required: choose a recipient list."))
    receiver_list = None
    if isinstance(receiver_list_id, int) and not isinstance(receiver_list_id, bool):
        # Another tenant's list reads as "does not exist".
        receiver_list = ReceiverList.objects.filter(account=account, pk=receiver_list_id).first()
    if receiver_list is None:
        raise BatchError("OperationDenied.ReceiverNotExist", _("Recipient list %(receiver_list_id)s does not exist.") % {"receiver_list_id": receiver_list_id})
    if receiver_list.status == ReceiverList.UPLOADING:
        raise BatchError("OperationDenied.ReceiverIsOperating", _("“%(name)s” is still uploading; try again when it is ready.") % {"name": receiver_list.name})
    if receiver_list.status != ReceiverList.DONE or not receiver_list.receivers.exists():
        raise BatchError("OperationDenied.ReceiverStatusError", _("“%(name)s” has no recipients ready to send to.") % {"name": receiver_list.name})
    return receiver_list


def _check_schedule(task_type, begin_time, interval_hours) -> tuple[dt.datetime | None, int | None]:
    if task_type not in dict(BatchTask.TYPES):
        raise BatchError("InvalidParameterValue", _("TaskType must be 1 (immediate), 2 (timed) or 3 (recurring)."))
    if task_type == BatchTask.IMMEDIATE:
        return None, None
    if task_type == BatchTask.TIMED and begin_time is None:
        raise BatchError("MissingParameter.TimedParamNecessary", _("A timed task needs its BeginTime."))
    if task_type == BatchTask.RECURRING and (begin_time is None or interval_hours in (None, "")):
        raise BatchError("MissingParameter.CycleParamNecessary", _("A recurring task needs its BeginTime and IntervalTime (hours)."))
    if begin_time < timezone.now() - BEGIN_TIME_GRACE:
        raise BatchError("InvalidParameterValue.BeginTimeBeforeNow", _("BeginTime is in the past."))
    if task_type == BatchTask.TIMED:
        return begin_time, None
    if not isinstance(interval_hours, int) or isinstance(interval_hours, bool) or not 1 <= interval_hours <= MAX_INTERVAL_HOURS:
        raise BatchError("InvalidParameterValue", _("IntervalTime must be a whole number of hours from 1 to %(MAX_INTERVAL_HOURS)s.") % {"MAX_INTERVAL_HOURS": MAX_INTERVAL_HOURS})
    return begin_time, interval_hours


def _enqueue_dispatch(task_id: int) -> None:
    # A broker that is down leaves the task sending; redispatch_stalled_tasks picks it up.
    enqueue_on_commit("batches.dispatch", task_id)


# --- dispatching ---------------------------------------------------------------------------------


class _LostRace(Exception):
    """Another dispatcher moved the cursor first: roll our chunk back and let theirs stand."""


def dispatch_chunk(task_id: int) -> str:
    """Turn the next chunk of the list into messages; returns MORE while there is more to do.

    1. Claim the task row (select_for_update; the cursor update below is conditional too, for
       databases without row locks); only a sending task dispatches.
    2. The next SES_BATCH_CHUNK receivers after the cursor; suppressed ones, and those whose content
       the review refuses (their variables, or what they form with the template: review_send), are
       skipped and counted, the review's reason kept (BatchSkip).
    3. reserve_up_to counts as many as the cap allows (the upgrade check runs when there is no room).
    4. One Message + "queued" event per granted receiver, cursor and counts — one transaction —
       and the messages go to delivery after the commit.
    5. Nothing granted: pause for 24 hours and tell the members. List exhausted: done.
    """
    try:
        with transaction.atomic():
            task = (
                # Only the task row: locking the joined domain here too would take the domain before
                # its day row, the reverse of every delivery (day row, then domain), and deadlock.
                # NO KEY UPDATE: inserts that reference the task (foreign-key checks) need not wait.
                BatchTask.objects.select_for_update(of=("self",), no_key=True)
                .select_related("account", "domain", "sender", "template")
                .filter(pk=task_id)
                .first()
            )
            if task is None:
                return GONE
            if task.status != BatchTask.SENDING:
                return IDLE
            freeze = task.account.active_freeze()
            if freeze is not None:
                _fail_task(task, freeze)
                return FAILED
            problem = _cannot_send(task)
            if problem:
                _finish(task, BatchTask.FAILED, err_msg=problem, fail_rest=True)
                return FAILED
            result = _dispatch_locked(task)
            if result == MORE:
                _enqueue_dispatch(task.pk)
    except _LostRace:
        return IDLE
    return result


def _cannot_send(task: BatchTask) -> str:
    if not task.domain.is_verified:
        return f"{task.domain.name} is no longer verified."
    if task.template.status != Template.APPROVED:
        return f"Template {task.template_id} is no longer approved."
    return ""


def _dispatch_locked(task: BatchTask) -> str:
    now = timezone.now()
    receivers = list(Receiver.objects.filter(receiver_list_id=task.receiver_list_id, id__gt=task.cursor).order_by("id")[: chunk_size()])
    if not receivers:
        _finish(task, BatchTask.DONE)
        return DONE

    suppressed = set(
        Suppression.objects.filter(account_id=task.account_id, email__in={r.email.lower() for r in receivers})
        .values_list("email", flat=True)
    )
    candidates = [r for r in receivers if r.email.lower() not in suppressed]
    refused = _refused_by_review(task, candidates)
    candidates = [r for r in candidates if r.id not in refused]
    granted = reserve_up_to(task.domain, [r.email for r in candidates]) if candidates else 0
    sending_now = candidates[:granted]
    if granted < len(candidates):
        # Stop just before the first receiver that got no room: it and the rest wait for tomorrow.
        stop = candidates[granted].id
        passed = [r for r in receivers if r.id < stop]
    else:
        passed = receivers
    skipped = len(passed) - granted
    new_cursor = passed[-1].id if passed else task.cursor

    _write_messages(task, sending_now, now)
    # Those past the stop are reviewed again when the task resumes, with the list of that day.
    _keep_skips(task, [(r, refused[r.id]) for r in passed if r.id in refused], now)
    changes = dict(
        cursor=new_cursor, send_count=F("send_count") + granted, skipped_count=F("skipped_count") + skipped,
        cache_count=_minus(task.cache_count, granted + skipped), updated_at=now,
    )
    paused = not granted and candidates
    if paused:
        row = DomainDay.objects.filter(domain=task.domain, day=platform_today()).first()
        cap = row.cap if row else task.domain.daily_cap
        changes.update(
            status=BatchTask.PAUSED, paused_at=now, resume_at=now + PAUSE_FOR,
            pause_reason=f"{task.domain.name} reached its daily cap of {cap:,}",
        )
    updated = BatchTask.objects.filter(pk=task.pk, cursor=task.cursor, status=BatchTask.SENDING).update(**changes)
    if updated != 1:
        raise _LostRace
    if paused:
        task.refresh_from_db()
        _notify_paused(task)
        return PAUSED
    return MORE


def _refused_by_review(task: BatchTask, receivers: list[Receiver]) -> dict[int, str]:
    """Receiver id → the review's reason, for each receiver whose mail the content review refuses
    (SPEC §4.1): its variables with today's sensitive-word list (read once a chunk), and what they
    form with the task's subject and the template."""
    if not receivers:
        return {}
    rules = sending.current_send_rules()
    template = task.template
    refused = {}
    for receiver in receivers:
        data = receiver.template_data if isinstance(receiver.template_data, dict) else {}
        verdict = review_send(rules, data, subject=task.subject, html=template.html, text=template.text)
        if not verdict.approved:
            refused[receiver.id] = verdict.reason
    return refused


def _keep_skips(task: BatchTask, skips: list[tuple[Receiver, str]], now: dt.datetime) -> None:
    """The reasons of the task's first BatchSkip.MAX_KEPT skips (a list of junk cannot fill the disk)."""
    if not skips:
        return
    room = BatchSkip.MAX_KEPT - BatchSkip.objects.filter(task=task).count()
    BatchSkip.objects.bulk_create([
        BatchSkip(task=task, email=receiver.email, reason=reason[:500], created_at=now)
        for receiver, reason in skips[:max(room, 0)]
    ])


def _minus(value: int, n: int) -> int:
    return max(value - n, 0)


def _write_messages(task: BatchTask, receivers: list[Receiver], now: dt.datetime) -> list[Message]:
    """The granted receivers' messages (sending.writer), handed to delivery in groups of
    ENQUEUE_CHUNK, so several workers share a chunk."""
    return write_messages(
        account=task.account, domain=task.domain, sender=task.sender, from_name=task.from_name,
        reply_to=task.reply_to, template=task.template, unsubscribe=task.unsubscribe, bulk=True,
        recipients=[Recipient(r.email, _subject_for(task.subject, r.template_data), r.template_data or {}) for r in receivers],
        batch_task=task, at=now, hand_out=ENQUEUE_CHUNK,
    )


def _subject_for(subject: str, data: dict | None) -> str:
    data = {k: str(v) for k, v in (data or {}).items()}
    rendered = sending.render_placeholders(subject, data)
    # A value with a line break must not become a second header.
    return " ".join(rendered.split())[: sending.MAX_SUBJECT] or subject[: sending.MAX_SUBJECT]


def _notify_paused(task: BatchTask) -> None:
    from notify.services import notify_members
    from notify.texts import render

    params = {
        "task": task.pk, "reason": task.pause_reason, "sent": task.send_count, "waiting": task.cache_count,
        "when": timezone.localtime(task.resume_at).strftime("%Y-%m-%d %H:%M %Z"),
    }
    subject, text = render("batch_paused", params, settings.LANGUAGE_CODE)
    # notify_members writes in its own savepoint and emails after the commit; once per task and day.
    _safe_notify(notify_members, task.account, "batch_paused", str(task.pk), subject, text, None, params)


def _safe_notify(fn, *args) -> None:
    try:
        with transaction.atomic():
            fn(*args)
    except Exception:  # a broken notification must not undo or crash a dispatch
        log.exception("could not notify members about %s", args[2])


def _finish(task: BatchTask, status: int, *, err_msg: str = "", fail_rest: bool = False) -> None:
    now = timezone.now()
    changes = dict(status=status, finished_at=now, updated_at=now, resume_at=None)
    if err_msg:
        changes["err_msg"] = err_msg[:500]
    if fail_rest:
        changes.update(failed_count=F("failed_count") + task.cache_count, cache_count=0)
    elif status == BatchTask.DONE:
        changes["cache_count"] = 0
    BatchTask.objects.filter(pk=task.pk).update(**changes)


# --- periodic jobs -------------------------------------------------------------------------------


def resume_paused_batches() -> str:
    """Periodic: paused tasks whose 24 hours are over, and sending tasks whose dispatch was lost."""
    return f"resumed {resume_due_tasks()}, re-dispatched {redispatch_stalled_tasks()}"


def start_timed_batches() -> str:
    """Periodic: timed tasks and recurring rounds whose time has come."""
    return f"started {start_due_tasks()}"


def resume_due_tasks(now: dt.datetime | None = None) -> int:
    """Paused tasks whose 24 hours are over go back to sending (they pause again at the cap)."""
    now = now or timezone.now()
    resumed = 0
    for pk in BatchTask.objects.filter(status=BatchTask.PAUSED, resume_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            if BatchTask.objects.filter(pk=pk, status=BatchTask.PAUSED, resume_at__lte=now).update(
                status=BatchTask.SENDING, resume_at=None, pause_reason="", updated_at=now
            ):
                resumed += 1
                _enqueue_dispatch(pk)
    return resumed


def start_due_tasks(now: dt.datetime | None = None) -> int:
    """Timed tasks whose begin_time has come, and a new round of each due recurring schedule."""
    now = now or timezone.now()
    started = 0
    timed = BatchTask.objects.filter(status=BatchTask.PENDING, task_type=BatchTask.TIMED, begin_time__lte=now)
    for pk in timed.values_list("pk", flat=True):
        with transaction.atomic():
            if BatchTask.objects.filter(pk=pk, status=BatchTask.PENDING).update(
                status=BatchTask.SENDING, started_at=now, updated_at=now
            ):
                started += 1
                _enqueue_dispatch(pk)
    schedules = BatchTask.objects.filter(
        status=BatchTask.PENDING, task_type=BatchTask.RECURRING, parent__isnull=True, next_run_at__lte=now
    )
    for schedule in schedules:
        if _start_round(schedule, now):
            started += 1
    return started


def _start_round(schedule: BatchTask, now: dt.datetime) -> BatchTask | None:
    """One round of a recurring schedule over the whole list; rounds missed while the scheduler
    was down are not sent in a burst: the next run is the first due time after now."""
    interval = dt.timedelta(hours=schedule.interval_hours or 1)
    due = schedule.next_run_at
    next_run = due + interval
    while next_run <= now:
        next_run += interval
    with transaction.atomic():
        if not BatchTask.objects.filter(pk=schedule.pk, status=BatchTask.PENDING, next_run_at=due).update(
            next_run_at=next_run, updated_at=now
        ):
            return None  # another scheduler started this round
        count = Receiver.objects.filter(receiver_list_id=schedule.receiver_list_id).count()
        run = BatchTask.objects.create(
            account_id=schedule.account_id, domain_id=schedule.domain_id, sender_id=schedule.sender_id,
            from_name=schedule.from_name, reply_to=schedule.reply_to, template_id=schedule.template_id,
            subject=schedule.subject, receiver_list_id=schedule.receiver_list_id, unsubscribe=schedule.unsubscribe,
            task_type=BatchTask.RECURRING, begin_time=due, interval_hours=schedule.interval_hours, parent=schedule,
            status=BatchTask.SENDING, request_count=count, cache_count=count, created_at=now, updated_at=now,
            started_at=now,
        )
        _enqueue_dispatch(run.pk)
    return run


def redispatch_stalled_tasks(now: dt.datetime | None = None) -> int:
    """Sending tasks that made no progress for SES_BATCH_STALL_SECONDS: their dispatch task was
    lost (a killed worker, a broker restart). Dispatching twice is harmless: chunks are claimed."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.SES_BATCH_STALL_SECONDS)
    stalled = list(BatchTask.objects.filter(status=BatchTask.SENDING, updated_at__lt=cutoff).values_list("pk", flat=True))
    for pk in stalled:
        # Marks the hand-out, so the next run waits a full stall period before trying again.
        if BatchTask.objects.filter(pk=pk, status=BatchTask.SENDING, updated_at__lt=cutoff).update(updated_at=now):
            _enqueue_dispatch(pk)
    return len(stalled)


# --- freeze, cancel ------------------------------------------------------------------------------


def fail_unsent_for_frozen_account(freeze: AccountFreeze) -> int:
    """SPEC §3.4: every sending or paused task of the account fails what it has not sent."""
    failed = 0
    for pk in BatchTask.objects.filter(
        account_id=freeze.account_id, status__in=[BatchTask.SENDING, BatchTask.PAUSED]
    ).values_list("pk", flat=True):
        with transaction.atomic():
            task = BatchTask.objects.select_for_update().filter(
                pk=pk, status__in=[BatchTask.SENDING, BatchTask.PAUSED]
            ).first()
            if task is not None:
                _fail_task(task, freeze)
                failed += 1
    return failed


def freeze_message(freeze: AccountFreeze) -> str:
    return (
        f"The account was frozen for {freeze.day:%Y-%m-%d} by rule {freeze.rule} (bounce or spam rate too high); "
        "the messages not yet sent were failed."
    )


def _fail_task(task: BatchTask, freeze: AccountFreeze) -> None:
    """Inside a transaction holding the task's row lock."""
    dropped = drop_queued_messages(task, "account frozen")
    BatchTask.objects.filter(pk=task.pk).update(failed_count=F("failed_count") + dropped)
    _finish(task, BatchTask.FAILED, err_msg=freeze_message(freeze), fail_rest=True)


def drop_queued_messages(task: BatchTask, reason: str) -> int:
    """Drop the task's messages not yet handed to SMTP, in bulk: one conditional UPDATE per
    thousand (rows a worker holds are skipped by the status condition), their events, their callbacks."""
    waiting = Q(batch_task=task, status__in=[Message.QUEUED, Message.DEFERRED], smtp_started_at__isnull=True)
    dropped = 0
    now = timezone.now()
    while True:
        with transaction.atomic():
            ids = list(Message.objects.select_for_update().filter(waiting).order_by("id").values_list("pk", flat=True)[:1000])
            if not ids:
                break
            Message.objects.filter(waiting, pk__in=ids).update(status=Message.DROPPED, outcome=reason, finished_at=now)
            done = list(Message.objects.filter(pk__in=ids, status=Message.DROPPED, finished_at=now))
            MessageEvent.objects.bulk_create(
                [MessageEvent(message=m, at=now, kind="dropped", detail={"reason": reason}) for m in done]
            )
            dropped += len(done)
            transaction.on_commit(lambda done=done: _announce_dropped(done, reason))
    return dropped


def _announce_dropped(messages: list[Message], reason: str) -> None:
    for m in messages:
        message_event.send(sender=Message, message=m, kind="dropped", detail={"reason": reason})


def cancel_task(task: BatchTask, user=None) -> BatchTask:
    """Stop a pending, sending or paused task (or a recurring schedule and its running rounds):
    what is queued is dropped, the rest is never sent."""
    who = getattr(user, "email", "") or getattr(user, "username", "") or "a member"
    ids = [task.pk] + list(task.runs.filter(status__in=BatchTask.ACTIVE).values_list("pk", flat=True))
    with transaction.atomic():
        locked = list(BatchTask.objects.select_for_update().filter(pk__in=ids, status__in=BatchTask.ACTIVE))
        if not any(t.pk == task.pk for t in locked):
            raise BatchError("OperationDenied", _("Task %(pk)s has already ended; there is nothing to cancel.") % {"pk": task.pk})
        for t in locked:
            dropped = drop_queued_messages(t, "task cancelled")
            BatchTask.objects.filter(pk=t.pk).update(failed_count=F("failed_count") + dropped)
            _finish(t, BatchTask.CANCELLED, err_msg=f"cancelled by {who}", fail_rest=t.status != BatchTask.PENDING)
            if t.status == BatchTask.PENDING:
                BatchTask.objects.filter(pk=t.pk).update(next_run_at=None)
    task.refresh_from_db()
    return task


# --- reading -------------------------------------------------------------------------------------


def task_for_account(account: Account, task_id: object) -> BatchTask:
    task = None
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task = BatchTask.objects.filter(account=account, pk=task_id).select_related("domain", "receiver_list").first()
    if task is None:
        raise BatchError("ResourceNotFound", _("Task %(task_id)s does not exist.") % {"task_id": task_id})
    return task


def queue_status(account: Account) -> dict:
    """The queue page of SPEC §5: per domain today's sent vs cap, paused tasks with their resume
    time, queued and in-flight messages, the freeze; `active` says whether anything still moves."""
    domains = []
    for domain, row, _pending in domains_today(account):
        sent, cap = (row.sent, row.cap) if row else (0, domain.daily_cap)
        domains.append({
            "domain": domain, "name": domain.name, "level": domain.level, "sent": sent, "cap": cap,
            "percent": min(100, (sent * 100) // cap) if cap else 0, "at_cap": cap > 0 and sent >= cap,
        })
    counts = dict(
        Message.objects.filter(account=account, status__in=[Message.QUEUED, Message.SENDING, Message.DEFERRED])
        .values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    tasks = BatchTask.objects.filter(account=account).select_related("domain", "receiver_list")
    paused = list(tasks.filter(status=BatchTask.PAUSED).order_by("resume_at"))
    sending_tasks = list(tasks.filter(status=BatchTask.SENDING).order_by("started_at", "pk"))
    pending = list(tasks.filter(status=BatchTask.PENDING).order_by("begin_time", "pk"))
    freeze = account.active_freeze()
    queued, in_flight, deferred = counts.get(Message.QUEUED, 0), counts.get(Message.SENDING, 0), counts.get(Message.DEFERRED, 0)
    return {
        "domains": domains,
        "sending_tasks": sending_tasks,
        "paused_tasks": paused,
        "pending_tasks": pending,
        "queued": queued,
        "in_flight": in_flight,
        "deferred": deferred,
        "freeze": freeze,
        "frozen": freeze is not None,
        # Paused tasks and deferred messages wait hours: the page need not poll for them.
        "active": bool(sending_tasks or queued or in_flight),
        "now": timezone.now(),
    }
