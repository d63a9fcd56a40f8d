import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import Account
from domains.models import SenderDomain


class SenderAddress(models.Model):
    """An address on a verified sender domain: the only allowed From (SPEC §2)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sender_addresses")
    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="addresses")
    email = models.CharField(max_length=254, unique=True)
    display_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>" if self.display_name else self.email


class SensitiveWord(models.Model):
    """An entry of the sensitive-word list staff maintain (SPEC §4.1)."""

    word = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["word"]

    def __str__(self) -> str:
        return self.word


class Template(models.Model):
    """Subject + HTML and/or text with {{variable}} placeholders; reviewed on create and every edit."""

    APPROVED = 0
    IN_REVIEW = 1
    REJECTED = 2
    STATUSES = [(APPROVED, gettext_lazy("Approved")), (IN_REVIEW, gettext_lazy("In review")), (REJECTED, gettext_lazy("Rejected"))]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=100)
    subject = models.CharField(max_length=500)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    transactional = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField(choices=STATUSES, default=IN_REVIEW)
    review_reason = models.TextField(blank=True)  # rejections, one per line (rule: quote — message)
    review_warnings = models.TextField(blank=True)  # approved with a note (e.g. no unsubscribe link)
    reviewed_by = models.CharField(max_length=150, blank=True, help_text=gettext_lazy("'automatic' or the staff member"))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Suppression(models.Model):
    """The account's blacklist (invalid-address hard bounces) and its unsubscribes (SPEC §4.2)."""

    BLACKLIST = "blacklist"
    UNSUBSCRIBED = "unsubscribed"
    REASONS = [(BLACKLIST, gettext_lazy("Invalid address (bounced)")), (UNSUBSCRIBED, gettext_lazy("Unsubscribed"))]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="suppressions")
    email = models.CharField(max_length=254)
    reason = models.CharField(max_length=20, choices=REASONS)
    created_at = models.DateTimeField(default=timezone.now)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "email", "reason"], name="one_suppression_per_reason")
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"


def _new_message_id() -> str:
    return uuid.uuid4().hex


class Message(models.Model):
    """One recipient of one send: a row first, delivered by a worker after commit (SPEC §4.3).

    Status moves one way: queued → sending → a final state (delivered, bounced, dropped); a
    delivered message may still become bounced (late bounce). `deferred` waits for its next attempt.
    """

    QUEUED = "queued"
    SENDING = "sending"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    STATUSES = [
        (QUEUED, gettext_lazy("Queued")), (SENDING, gettext_lazy("Sending")), (DEFERRED, gettext_lazy("Deferred (will retry)")),
        (DELIVERED, gettext_lazy("Delivered")), (BOUNCED, gettext_lazy("Bounced")), (DROPPED, gettext_lazy("Dropped")),
    ]
    FINAL = (DELIVERED, BOUNCED, DROPPED)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="messages")
    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="messages")
    message_id = models.CharField(max_length=64, unique=True, default=_new_message_id)
    # One SendEmail call (or one batch chunk) shares a request id; the API returns the first MessageId.
    request_id = models.CharField(max_length=64, db_index=True)
    from_email = models.CharField(max_length=254)
    from_name = models.CharField(max_length=100, blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    recipient = models.CharField(max_length=254)
    recipient_kind = models.CharField(max_length=3, default="to")  # to, cc, bcc
    mailbox_type = models.CharField(max_length=253)
    template = models.ForeignKey(Template, null=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.CharField(max_length=500)
    template_data = models.JSONField(default=dict)
    unsubscribe = models.PositiveSmallIntegerField(default=0)  # the Unsubscribe option of SendEmail
    bulk = models.BooleanField(default=False)  # batch mail: List-Unsubscribe always
    batch_task = models.ForeignKey(
        "batches.BatchTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    send_day = models.DateField(help_text=gettext_lazy("The platform day whose cap counted it"))
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    outcome = models.CharField(max_length=20, blank=True)  # delivered, invalid, spam, bounced, dropped…
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Set just before the SMTP transaction starts and when it ends: the sweeper never re-sends a
    # message whose transaction started (SPEC §4.3).
    smtp_started_at = models.DateTimeField(null=True, blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    smtp_reply = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["account", "send_day"]),
            models.Index(fields=["account", "recipient"]),
            # How many messages an account has waiting (sending.lanes): a few entries read per hand-out.
            models.Index(fields=["account"], condition=models.Q(status="queued"), name="message_queued_by_account"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.recipient} ({self.status})"


class MessageEvent(models.Model):
    """The timeline of a message: queued, sent, delivered, bounced, opened, clicked, complaint…"""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.kind}"
