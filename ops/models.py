from django.db import models


class PeriodicJobRun(models.Model):
    """The last run of one periodic job; `tick` claims a due job by a conditional UPDATE of this row.

    Shared through the database, so any number of beat processes, cron ticks and workers agree on
    what is due and never run one job twice at the same time.
    """

    name = models.CharField(max_length=100, unique=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_ok = models.BooleanField(null=True, help_text="Empty until the job has finished once")
    last_result = models.TextField(blank=True, help_text="What the job reported, or its error")
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
