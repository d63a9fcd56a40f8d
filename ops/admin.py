from django.contrib import admin

from ops.models import PeriodicJobRun


@admin.register(PeriodicJobRun)
class PeriodicJobRunAdmin(admin.ModelAdmin):
    """Read-only: the schedule is code (ops/periodic.py); this shows whether it runs."""

    list_display = ("name", "last_started_at", "last_finished_at", "last_ok", "runs", "last_result")
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
