from django.contrib import admin

from core.admin_search import IdnSearch
from domains.admin import ReadOnlyAdmin
from stats.models import DailyVolume


@admin.register(DailyVolume)
class DailyVolumeAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = (
        "day", "account", "domain", "mailbox_type", "requested", "sent", "delivered", "invalid", "spam",
        "bounced", "complaints", "opened", "clicked", "unsubscribed",
    )
    search_fields = ("domain__name", "mailbox_type", "account__name")
    date_hierarchy = "day"
    list_select_related = ("account", "domain")
