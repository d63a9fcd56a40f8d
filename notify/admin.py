from django import forms
from django.contrib import admin

from notify import services
from notify.models import CallbackDelivery, CallbackEndpoint, Notification


class CallbackEndpointForm(forms.ModelForm):
    class Meta:
        model = CallbackEndpoint
        fields = ["url"]

    def clean_url(self) -> str:
        # Staff edits go through the same check as the console's: one rule for every path.
        try:
            return services.check_callback_url(self.cleaned_data["url"])
        except services.NotifyError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(admin.ModelAdmin):
    list_display = ("account", "url", "enabled", "updated_at")
    exclude = ("secret_encrypted",)
    form = CallbackEndpointForm


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "account", "event", "message_id", "status", "attempts", "last_status_code")
    list_filter = ("status", "event")
    search_fields = ("message_id",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "account", "cause", "subject", "emailed_to", "read_at")
    list_filter = ("cause",)
