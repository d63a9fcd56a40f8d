from django.db import models

from accounts.models import Account
from domains.models import DayCounters, SenderDomain


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

    Written in the same transaction as DailyVolume (stats.rollups.add_volume), so the unfiltered
    statistics read one row per day instead of domains × mailbox types rows.
    """

    # No index of its own: the unique key leads with it.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()

    class Meta:
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
        constraints = [
            models.UniqueConstraint(fields=["account", "mailbox_type", "day"], name="one_account_mailbox_day")
        ]

    def __str__(self) -> str:
        return f"{self.account} → {self.mailbox_type} {self.day}"
