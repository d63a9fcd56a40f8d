"""Staff admin for batches: tasks, lists and their rows, read-only — customers create and cancel
tasks through batches.services, which keeps the counts and the cursor true."""

from django.contrib import admin

from batches.models import BatchTask, Receiver, ReceiverList, ReceiverListError
from core.admin_search import IdnSearch
from core.staff_admin import ReadOnlyAdmin


@admin.register(BatchTask)
class BatchTaskAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = (
        "id", "account", "domain", "task_type", "status", "request_count", "send_count", "skipped_count",
        "failed_count", "cache_count", "resume_at", "created_at",
    )
    list_filter = ("status", "task_type")
    search_fields = ("account__name", "domain__name", "subject", "receiver_list__name")
    list_select_related = ("account", "domain")
    raw_id_fields = ("parent",)


@admin.register(ReceiverList)
class ReceiverListAdmin(ReadOnlyAdmin):
    list_display = ("name", "account", "status", "count", "invalid_count", "duplicate_count", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "account__name")
    list_select_related = ("account",)


@admin.register(Receiver)
class ReceiverAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = ("email", "receiver_list", "created_at")
    search_fields = ("email", "receiver_list__name")
    list_select_related = ("receiver_list",)
    show_full_result_count = False  # lists hold up to millions of rows


@admin.register(ReceiverListError)
class ReceiverListErrorAdmin(ReadOnlyAdmin):
    list_display = ("receiver_list", "line", "reason", "content")
    search_fields = ("receiver_list__name", "reason")
    list_select_related = ("receiver_list",)
