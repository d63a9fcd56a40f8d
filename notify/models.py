import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import Account
from core import crypto


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class CallbackEndpoint(models.Model):
    """Where an account wants its message events POSTed (SPEC §6.1); one per account."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="callback_endpoint")
    url = models.URLField(max_length=1000)
    # The HMAC key the receiver verifies X-SES-Signature with; encrypted at rest like API secret keys.
    secret_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.account}: {self.url}"

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    def new_secret(self) -> str:
        secret = _new_secret()
        self.secret_encrypted = crypto.encrypt(secret)
        return secret


class CallbackDelivery(models.Model):
    """One event POSTed (or being POSTed) to an account's callback URL, with its attempts."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    STATUSES = [(PENDING, gettext_lazy("Pending")), (DELIVERED, gettext_lazy("Delivered")), (FAILED, gettext_lazy("Failed (gave up)"))]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="callback_deliveries")
    event = models.CharField(max_length=20)
    message_id = models.CharField(max_length=64, db_index=True)
    url = models.URLField(max_length=1000)  # where it goes: the endpoint's URL when it was queued
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["account", "created_at"]),
            # How many callbacks an account has pending (services.callback_queue_for): a few entries read.
            models.Index(fields=["account"], condition=models.Q(status="pending"), name="callback_pending_by_account"),
        ]
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "callback deliveries"

    def __str__(self) -> str:
        return f"{self.event} {self.message_id} → {self.url} ({self.status})"


class Notification(models.Model):
    """A message to an account's members (console and email); at most one per cause per day."""

    CAP_WARNING = "cap_warning"
    LEVEL_CHANGED = "level_changed"
    ACCOUNT_FROZEN = "account_frozen"
    BATCH_PAUSED = "batch_paused"
    DOMAIN_CLAIM_LOST = "domain_claim_lost"
    DOMAIN_CLAIM_EXPIRED = "domain_claim_expired"
    CAUSES = [
        (CAP_WARNING, gettext_lazy("Domain near its daily cap")),
        (LEVEL_CHANGED, gettext_lazy("Level changed")),
        (ACCOUNT_FROZEN, gettext_lazy("Account frozen")),
        (BATCH_PAUSED, gettext_lazy("Batch task paused")),
        (DOMAIN_CLAIM_LOST, gettext_lazy("Domain verified by another account")),
        (DOMAIN_CLAIM_EXPIRED, gettext_lazy("Unverified domain removed")),
    ]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notifications")
    cause = models.CharField(max_length=20, choices=CAUSES)
    # The cause and what it is about ("cap_warning:12" for domain 12): the once-a-day key.
    cause_key = models.CharField(max_length=100)
    day = models.DateField()
    subject = models.CharField(max_length=200)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_to = models.PositiveIntegerField(default=0)
    # The facts the subject and text were made from: notify.texts renders them in the reader's language.
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "cause_key", "day"], name="one_notification_per_cause_day")
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.account} {self.day}: {self.subject}"

    def localized(self) -> tuple[str, str]:
        """(subject, text) in the active language; as stored when there are no params (older rows)."""
        from notify.texts import render

        return render(self.cause, self.params) or (self.subject, self.text)

    @property
    def localized_subject(self) -> str:
        return self.localized()[0]

    @property
    def localized_text(self) -> str:
        return self.localized()[1]

    @property
    def read(self) -> bool:
        return self.read_at is not None
