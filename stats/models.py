from django.db import models

from accounts.models import Account
from domains.models import DayCounters, SenderDomain


class DailyVolume(DayCounters):
    """Counters per account × sender domain × receiving mailbox type (recipient domain) × day.

    Maintained as outcomes arrive (domains.reputation.services.record_outcome); statistics pages
    read these rows and never scan messages.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    domain = models.ForeignKey(SenderDomain, on_delete=models.CASCADE, related_name="volumes")
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
