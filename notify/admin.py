from django.contrib import admin

from notify.models import CallbackDelivery, CallbackEndpoint, Notification


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(admin.ModelAdmin):
    list_display = ("account", "url", "enabled", "updated_at")
    exclude = ("secret_encrypted",)


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "account", "event", "message_id", "status", "attempts", "last_status_code")
    list_filter = ("status", "event")
    search_fields = ("message_id",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "account", "cause", "subject", "emailed_to", "read_at")
    list_filter = ("cause",)
