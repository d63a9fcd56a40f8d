"""Batch send pages: the task list, a task's progress, the create form, cancel, and the queue status
page that refreshes itself while anything is moving. Every rule lives in batches.services."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseStopPolling

from accounts.views import account_required
from batches import services
from batches.forms import BatchTaskForm
from batches.models import BatchTask
from sending.review_text import translate_reason

TASK_PAGE_SIZE = 50
RECENT_MESSAGES = 20
# Pages poll only while messages move. Paused and scheduled tasks wait hours: their countdowns tick
# in the browser (static/js/countdown.js), which asks for one refresh when a countdown runs out.
POLL = "every 2s"


def _get_task_for_account(request: HttpRequest, pk: int) -> BatchTask:
    # Another account's task is as good as missing: 404, never its data.
    try:
        return services.task_for_account(request.account, pk)
    except services.BatchError:
        raise Http404("No such task.") from None


def countdown_text(seconds: int) -> str:
    """'in 3 h 05 min', to the minute (rounded up: 'in 1 min' until the very last second)."""
    if seconds <= 0:
        return gettext("any moment now")
    hours, minutes = divmod(-(-seconds // 60), 60)
    if hours:
        return gettext("in %(hours)s h %(minutes)s min") % {"hours": hours, "minutes": f"{minutes:02d}"}
    return gettext("in %(minutes)s min") % {"minutes": minutes}


def countdown(until: dt.datetime | None, now: dt.datetime) -> dict | None:
    """What templates/batches/countdown.html shows; the browser ticks it on from `seconds`."""
    if until is None:
        return None
    seconds = max(int((until - now).total_seconds()), 0)
    return {"until": until, "seconds": seconds, "text": countdown_text(seconds)}


def _progress(task: BatchTask) -> dict:
    done = task.send_count + task.skipped_count + task.failed_count
    return {"done": done, "total": max(task.request_count, done), "remaining": task.cache_count}


# --- Tasks -------------------------------------------------------------------------------------


@account_required
def task_list(request: HttpRequest) -> HttpResponse:
    tasks = (
        BatchTask.objects.filter(account=request.account)
        .select_related("sender", "template", "receiver_list")
        .order_by("-created_at", "-id")
    )
    page = Paginator(tasks, TASK_PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [{"task": task, "resume_in": countdown(task.resume_at, now)} for task in page.object_list]
    return render(request, "batches/tasks.html", {"page": page, "rows": rows})


@account_required
def task_create(request: HttpRequest) -> HttpResponse:
    """GET shows the form; POST creates the task (a refused task leaves nothing written)."""
    form = BatchTaskForm(request.account, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task = services.create_task(
                request.account, from_address=data["sender"].email, receiver_list_id=data["receiver_list"].pk,
                template_id=data["template"].pk, subject=data["subject"].strip(), task_type=data["task_type"],
                begin_time=data["begin_time"], interval_hours=data["interval_hours"],
                unsubscribe=data["unsubscribe"],
            )
        except services.BatchError as exc:
            form.add_error(None, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("Task %(pk)s is created.") % {"pk": task.pk})
            return redirect("batch-detail", pk=task.pk)
    status = 400 if form.errors else 200
    return render(request, "batches/task_new.html", {"form": form}, status=status)


@account_required
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The task's progress; the progress card polls itself while the task is sending."""
    task = _get_task_for_account(request, pk)
    context = {
        "task": task,
        "progress": _progress(task),
        "resume_in": countdown(task.resume_at, timezone.now()),
        "poll": POLL if task.status == BatchTask.SENDING else "",
        "runs": task.runs.order_by("-created_at", "-id")[:RECENT_MESSAGES],
        "recent_messages": task.messages.order_by("-created_at", "-id")[:RECENT_MESSAGES],
        "skips": [
            (skip.email, translate_reason(skip.reason).splitlines())
            for skip in task.skips.order_by("id")[:RECENT_MESSAGES]
        ],
    }
    if request.htmx:
        content = render_to_string("batches/task_detail.html#progress", context, request=request)
        return HttpResponse(content) if context["poll"] else HttpResponseStopPolling(content)
    return render(request, "batches/task_detail.html", context)


@account_required
@require_http_methods(["GET", "POST"])
def task_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm; POST cancels: the unsent recipients are not sent."""
    task = _get_task_for_account(request, pk)
    if request.method == "POST":
        try:
            services.cancel_task(task, request.user)
        except services.BatchError as exc:
            messages.error(request, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("Task %(pk)s is cancelled.") % {"pk": task.pk})
        return redirect("batch-detail", pk=task.pk)
    return render(request, "batches/task_cancel.html", {"task": task, "progress": _progress(task)})


# --- Queue status (SPEC §5) ----------------------------------------------------------------------


@account_required
def queue(request: HttpRequest) -> HttpResponse:
    """The queue right now. The same view renders the polled fragment; once nothing moves it answers
    286, so htmx stops polling (the last fragment still swaps in, without its poll trigger)."""
    status = services.queue_status(request.account)
    context = {
        **status,
        "paused_rows": [
            {"task": task, "resume_in": countdown(task.resume_at, status["now"])} for task in status["paused_tasks"]
        ],
        "poll": POLL if status["active"] else "",
    }
    if request.htmx:
        content = render_to_string("batches/queue.html#status", context, request=request)
        return HttpResponse(content) if status["active"] else HttpResponseStopPolling(content)
    return render(request, "batches/queue.html", context)
