import datetime as dt
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import Account
from domains.reputation import levels

# An unverified claim is removed this long after it was made (SPEC: unverified domains do not block others).
UNVERIFIED_CLAIM_LIFETIME = dt.timedelta(days=7)


def new_verification_token() -> str:
    """128 random bits in hex: the ownership record's value cannot be guessed from the name or the account."""
    return secrets.token_hex(16)


class SenderDomain(models.Model):
    """An account's claim on a domain, which it proves by DNS. Its level moves only by the rules (SPEC §3).

    Several accounts may claim one name; the first to publish its own verification token owns it and
    the other claims are removed (domains.services.check_dns). The constraints hold that under
    concurrency: one claim per account and name, and one verified claim per name.
    """

    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"
    STATUSES = [(PENDING, gettext_lazy("Pending verification")), (VERIFIED, gettext_lazy("Verified")), (FAILED, gettext_lazy("Verification failed"))]

    # No index of its own: the unique (account, name) leads with it.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="domains", db_index=False)
    # Not unique: an unverified claim must not block the domain's real owner (see the constraints).
    name = models.CharField(max_length=253, db_index=True)
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    level = models.PositiveSmallIntegerField(default=1, editable=False)
    # Only at level 20, through an approved work order (SPEC §3).
    custom_cap = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    dkim_selector = models.CharField(max_length=63, default="sesconsole")
    dkim_bits = models.PositiveSmallIntegerField(default=1024)
    dkim_private_key_encrypted = models.TextField(editable=False)
    dkim_public_key = models.TextField(editable=False)  # base64 DER, as published in the p= tag
    dns_results = models.JSONField(default=dict, blank=True, editable=False)
    # Random, per claim: published in the ownership TXT record, it proves this account controls the
    # name (another account's token at the same DNS name verifies only that account's claim).
    verification_token = models.CharField(max_length=64, editable=False, default=new_verification_token)
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="one_claim_per_account_and_name"),
            # Whoever verifies first owns the name: a second verified row fails here, even in a race.
            models.UniqueConstraint(fields=["name"], condition=Q(status="verified"), name="one_verified_claim_per_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_verified(self) -> bool:
        return self.status == self.VERIFIED

    @property
    def daily_cap(self) -> int:
        return levels.cap_for(self.level, self.custom_cap)

    @property
    def claim_expires_at(self) -> dt.datetime | None:
        """When this claim is removed unless verified before; None once verified (ever: verified_at set)."""
        return None if self.is_verified or self.verified_at else self.created_at + UNVERIFIED_CLAIM_LIFETIME

    def claim_expired(self, now: dt.datetime) -> bool:
        expires_at = self.claim_expires_at
        return expires_at is not None and now >= expires_at


class DayCounters(models.Model):
    """The counters of one platform day (SPEC §3.1). Outcomes add to them; nothing recounts messages."""

    requested = models.PositiveBigIntegerField(default=0)
    sent = models.PositiveBigIntegerField(default=0)
    delivered = models.PositiveBigIntegerField(default=0)
    invalid = models.PositiveBigIntegerField(default=0)
    spam = models.PositiveBigIntegerField(default=0)
    bounced = models.PositiveBigIntegerField(default=0)  # other bounces (neither invalid nor spam)
    complaints = models.PositiveBigIntegerField(default=0)
    opened = models.PositiveBigIntegerField(default=0)
    clicked = models.PositiveBigIntegerField(default=0)
    unsubscribed = models.PositiveBigIntegerField(default=0)

    COUNTERS = (
        "requested", "sent", "delivered", "invalid", "spam", "bounced",
        "complaints", "opened", "clicked", "unsubscribed",
    )

    class Meta:
        abstract = True


class DomainDay(DayCounters):
    """One sender domain's counters for one platform day; the quota reservation row.

    `cap` is the cap in force (it rises with an upgrade during the day); reservations are one
    conditional UPDATE on `sent` against it (domains.reputation.services.reserve_quota).
    """

    # No index of its own: the unique (domain, day) leads with it.
    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="days", db_index=False)
    day = models.DateField()
    level = models.PositiveSmallIntegerField()
    cap = models.PositiveBigIntegerField()
    closed_at = models.DateTimeField(null=True, blank=True)
    cap_warned_at = models.DateTimeField(null=True, blank=True)
    # Of `sent`, the messages to the mailbox simulator that do not count for reputation
    # (SES_SIMULATOR_COUNTS_FOR_REPUTATION off): the cap counts them, the rules see `sent - simulated`,
    # and their outcomes never reach this row's other counters (domains.reputation.services).
    simulated = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["domain", "day"], name="one_row_per_domain_day"),
            models.CheckConstraint(condition=models.Q(simulated__lte=models.F("sent")), name="simulated_within_sent"),
        ]
        indexes = [models.Index(fields=["day", "closed_at"])]
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.domain} {self.day}: {self.sent}/{self.cap}"

    @property
    def remaining(self) -> int:
        return max(self.cap - self.sent, 0)


class LevelChange(models.Model):
    """Every level move: when, from, to, which rule, and the metrics that made it fire."""

    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="level_changes")
    at = models.DateTimeField(default=timezone.now)
    day = models.DateField(help_text=gettext_lazy("The platform day whose counters fired the rule"))
    effective_at = models.DateTimeField()
    from_level = models.PositiveSmallIntegerField()
    to_level = models.PositiveSmallIntegerField()
    rule = models.CharField(max_length=10)
    metrics = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.domain}: {self.from_level} → {self.to_level} ({self.rule})"


class ClosedDay(models.Model):
    """A platform day that evaluate_reputation has closed; makes closing idempotent and resumable."""

    day = models.DateField(unique=True)
    closed_at = models.DateTimeField(default=timezone.now)
    domains_evaluated = models.PositiveIntegerField(default=0)
    downgrades = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day} closed: {self.domains_evaluated} evaluated, {self.downgrades} downgraded"


class WorkOrder(models.Model):
    """A level-20 domain's request for a cap above 1,000,000; staff approve with a custom cap."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    STATUSES = [(PENDING, gettext_lazy("Pending")), (APPROVED, gettext_lazy("Approved")), (REJECTED, gettext_lazy("Rejected"))]

    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="work_orders")
    requested_cap = models.PositiveBigIntegerField()
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    filed_at = models.DateTimeField(default=timezone.now)
    approved_cap = models.PositiveBigIntegerField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-filed_at"]

    def __str__(self) -> str:
        return f"{self.domain}: {self.requested_cap:,} ({self.status})"


class DailyVolume(DayCounters):
    """Counters per account × sender domain × receiving mailbox type (recipient domain) × day.

    Maintained as outcomes arrive (domains.reputation.services.record_outcome); statistics pages
    read these rows and never scan messages.
    """

    # No index of their own: (account, day) and the unique (domain, mailbox type, day) lead with them.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="volumes", db_index=False)
    mailbox_type = models.CharField(max_length=253)
    day = models.DateField()

    class Meta:
        db_table = "stats_dailyvolume"  # the table of the statistics app, where the model began
        constraints = [
            models.UniqueConstraint(fields=["domain", "mailbox_type", "day"], name="one_volume_per_domain_type_day")
        ]
        indexes = [
            models.Index(fields=["account", "day"]),
            # The mailbox-type filter of the statistics page and GetStatisticsReport.
            models.Index(fields=["account", "mailbox_type", "day"], name="stats_volume_acct_type_day"),
        ]

    def __str__(self) -> str:
        return f"{self.domain} → {self.mailbox_type} {self.day}"


class AccountDay(DayCounters):
    """The account's counters for one day: the sum of its DailyVolume rows of that day.

    Written in the same transaction as DailyVolume (domains.reputation.rollups.add_volume), so the unfiltered
    statistics read one row per day instead of domains × mailbox types rows.
    """

    # No index of its own: the unique key leads with it.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()

    class Meta:
        db_table = "stats_accountday"
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="one_account_day")]

    def __str__(self) -> str:
        return f"{self.account} {self.day}"


class AccountMailboxDay(DayCounters):
    """The account's counters for one receiving mailbox type and day: its DailyVolume rows summed over domains."""

    # No index of its own: the unique key leads with it.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    mailbox_type = models.CharField(max_length=253)
    day = models.DateField()

    class Meta:
        db_table = "stats_accountmailboxday"
        constraints = [
            models.UniqueConstraint(fields=["account", "mailbox_type", "day"], name="one_account_mailbox_day")
        ]

    def __str__(self) -> str:
        return f"{self.account} → {self.mailbox_type} {self.day}"
