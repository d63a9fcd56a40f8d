from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import Account
from domains.models import SenderDomain
from sending.models import SenderAddress, Template


class ReceiverList(models.Model):
    """A recipient list: email plus template variables per row, loaded from CSV or the API."""

    PENDING_UPLOAD = 1
    UPLOADING = 2
    DONE = 3
    STATUSES = [(PENDING_UPLOAD, gettext_lazy("Waiting for upload")), (UPLOADING, gettext_lazy("Uploading")), (DONE, gettext_lazy("Ready"))]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="receiver_lists")
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True)
    status = models.PositiveSmallIntegerField(choices=STATUSES, default=PENDING_UPLOAD)
    count = models.PositiveIntegerField(default=0)  # valid recipients loaded
    invalid_count = models.PositiveIntegerField(default=0)  # rows refused (see ReceiverListError)
    duplicate_count = models.PositiveIntegerField(default=0)
    # Upload progress: bytes of the file read so far, of its size.
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    upload_error = models.CharField(max_length=500, blank=True)  # a whole-file problem (not UTF-8…)
    # The file name (in DATA_DIR/uploads) of the upload that last claimed the list (begin_upload):
    # only its import task may load it, mark it done or remove its file; "" for a claim without one.
    upload_file = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="one_list_name_per_account")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Receiver(models.Model):
    receiver_list = models.ForeignKey(ReceiverList, on_delete=models.CASCADE, related_name="receivers")
    email = models.CharField(max_length=254)
    template_data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["receiver_list", "email"], name="one_receiver_per_list")]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email


class ReceiverListError(models.Model):
    """A row of an upload that was refused: its line number and why (the good rows still load)."""

    receiver_list = models.ForeignKey(ReceiverList, on_delete=models.CASCADE, related_name="errors")
    line = models.PositiveIntegerField()
    reason = models.CharField(max_length=300)
    content = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["line"]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class BatchTask(models.Model):
    """A bulk send of one template to a recipient list (SPEC §3.5, §6).

    Dispatch walks the list in receiver-id order; `cursor` is the last receiver turned into a
    message, advanced in the same transaction that writes the messages, so a crash loses nobody and
    repeats nobody. What is left (`cache_count`) waits while the task is paused at the cap.
    """

    IMMEDIATE = 1
    TIMED = 2
    RECURRING = 3
    TYPES = [(IMMEDIATE, gettext_lazy("Immediate")), (TIMED, gettext_lazy("Timed")), (RECURRING, gettext_lazy("Recurring"))]

    PENDING = 1
    SENDING = 5
    PAUSED = 6
    FAILED = 7
    DONE = 10
    CANCELLED = 11  # not in the SDK's list; reported to the API as failed with ErrMsg "cancelled"
    STATUSES = [
        (PENDING, gettext_lazy("Pending")), (SENDING, gettext_lazy("Sending")), (PAUSED, gettext_lazy("Paused for today")), (FAILED, gettext_lazy("Failed")),
        (DONE, gettext_lazy("Done")), (CANCELLED, gettext_lazy("Cancelled")),
    ]
    ACTIVE = (PENDING, SENDING, PAUSED)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="batch_tasks")
    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="batch_tasks")
    sender = models.ForeignKey(SenderAddress, on_delete=models.PROTECT, related_name="+")
    from_name = models.CharField(max_length=100, blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=500)
    receiver_list = models.ForeignKey(ReceiverList, on_delete=models.PROTECT, related_name="tasks")
    unsubscribe = models.PositiveSmallIntegerField(default=0)
    task_type = models.PositiveSmallIntegerField(choices=TYPES, default=IMMEDIATE)
    begin_time = models.DateTimeField(null=True, blank=True)  # timed and recurring tasks
    interval_hours = models.PositiveIntegerField(null=True, blank=True)  # recurring tasks
    next_run_at = models.DateTimeField(null=True, blank=True)  # recurring: when the next round starts
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    status = models.PositiveSmallIntegerField(choices=STATUSES, default=PENDING)
    request_count = models.PositiveIntegerField(default=0)  # recipients in the list at the start
    send_count = models.PositiveIntegerField(default=0)  # messages counted against the cap and queued
    skipped_count = models.PositiveIntegerField(default=0)  # suppressed, unsubscribed, refused by the review
    failed_count = models.PositiveIntegerField(default=0)  # recipients failed (frozen account, cancel)
    cache_count = models.PositiveIntegerField(default=0)  # recipients still waiting
    cursor = models.BigIntegerField(default=0)  # last Receiver.id dispatched
    err_msg = models.CharField(max_length=500, blank=True)
    pause_reason = models.CharField(max_length=300, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "resume_at"]), models.Index(fields=["status", "begin_time"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.get_status_display()})"


class BatchSkip(models.Model):
    """A recipient a task skipped because the content review refused what it would have received
    (its variables, or what they form with the template): why, for the task's page. Not counted
    against the cap; in the task's skipped_count. The first MAX_KEPT of a task are kept."""

    MAX_KEPT = 1000

    task = models.ForeignKey(BatchTask, on_delete=models.CASCADE, related_name="skips")
    email = models.CharField(max_length=254)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.email}: {self.reason}"
