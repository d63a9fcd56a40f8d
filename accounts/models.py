import secrets

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from core import crypto
from core.clock import platform_today


class Account(models.Model):
    """A tenant: its members, sender domains and API keys belong to it."""

    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    def active_freeze(self, day=None) -> "AccountFreeze | None":
        """The freeze in force on `day` (default: today's platform day), if any."""
        day = day or platform_today()
        return self.freezes.filter(day=day, lifted_at__isnull=True).first()

    def is_frozen(self, day=None) -> bool:
        return self.active_freeze(day) is not None


class Membership(models.Model):
    """A user belongs to one account (SPEC §2: members are Django users)."""

    OWNER = "owner"
    MEMBER = "member"
    ROLES = [(OWNER, gettext_lazy("Owner")), (MEMBER, gettext_lazy("Member"))]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=10, choices=ROLES, default=MEMBER)
    # The language this member last used the console in (set on each request when it changes): the
    # platform's emails to the member (notify) are written in it.
    language = models.CharField(max_length=10, default=settings.LANGUAGE_CODE, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} @ {self.account}"


def _new_secret_id() -> str:
    # The cloud's SecretIds are "AKID" + 32 characters; the SDK does not care, but people recognise it.
    return "AKID" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")[:32]


class ApiKey(models.Model):
    """A SecretId / SecretKey pair. The SecretKey is stored encrypted (it is needed to verify HMACs)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    secret_id = models.CharField(max_length=64, unique=True, default=_new_secret_id)
    secret_key_encrypted = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.secret_id

    @classmethod
    def issue(cls, account: Account) -> tuple["ApiKey", str]:
        """Create a key; returns it with the plaintext SecretKey, which is never shown again."""
        secret_key = secrets.token_urlsafe(24)[:32]
        key = cls.objects.create(account=account, secret_key_encrypted=crypto.encrypt(secret_key))
        return key, secret_key

    @property
    def secret_key(self) -> str:
        return crypto.decrypt(self.secret_key_encrypted)


class AccountFreeze(models.Model):
    """A temporary freeze (SPEC §3.4): from `frozen_at` to the end of platform day `day`."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="freezes")
    day = models.DateField()
    frozen_at = models.DateTimeField(default=timezone.now)
    rule = models.CharField(max_length=10)
    metrics = models.JSONField(default=dict)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lift_reason = models.TextField(blank=True)
    # Set when the day is closed: the freeze ran its course (or was lifted before).
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="one_freeze_per_account_day")]
        ordering = ["-frozen_at"]

    def __str__(self) -> str:
        return f"{self.account} frozen on {self.day} ({self.rule})"


class RateCount(models.Model):
    """One rate-limit counter (accounts/ratelimit.py) when the cache is not Redis.

    `key` names the limit, its window and the hashed identity, so a window's counter is a row of
    its own: one atomic upsert counts a hit, and the periodic job `delete_ended_rate_counts`
    deletes the rows whose window has ended.
    """

    key = models.CharField(max_length=120, primary_key=True)
    count = models.IntegerField()
    window_end = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count} until {self.window_end:%Y-%m-%d %H:%M:%S}"


class AcceptedSignature(models.Model):
    """A signature the API accepted (api/replay.py) when the cache is not Redis, or Redis is down.

    `key` is the hashed SecretId and signature: one INSERT … ON CONFLICT DO NOTHING records it, and
    inserts nothing for a signature seen before; `read_only` then says whether its first use was a
    read (a read may repeat it, nothing else may). The periodic job `delete_expired_signatures` deletes the rows
    once their request's timestamp has left the window (a replay is refused as expired then).
    """

    key = models.CharField(max_length=120, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)
    read_only = models.BooleanField()

    def __str__(self) -> str:
        return f"{self.key} until {self.expires_at:%Y-%m-%d %H:%M:%S}"


class Session(AbstractBaseSession):
    """A console session (SESSION_ENGINE "accounts.backends"): Django's, plus the signed-in user.

    `user` is set whenever the session is saved with a signed-in user's id in it (NULL otherwise), so
    the session, its user, membership, account and the account's freeze of the day come in one query
    (accounts.backends.SessionStore.load). Deleting a user (with the ORM) deletes their sessions.
    """

    # No constraint in the database: a session saved while its user is being deleted must not fail
    # (nor loop on a new key); a session left with a user id that has no user signs nobody in.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="sessions", db_constraint=False)

    @classmethod
    def get_session_store_class(cls):
        from accounts.backends import SessionStore

        return SessionStore


class StaffActionLog(models.Model):
    """Every staff action outside the rules (force-verify, lift a freeze, work-order decisions)."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=150, help_text=gettext_lazy("Who, also for command-line actions"))
    action = models.CharField(max_length=50)
    target = models.CharField(max_length=300)
    detail = models.TextField(blank=True)

    class Meta:
        db_table = "domains_staffactionlog"  # the table of the app where the model began
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target}"
