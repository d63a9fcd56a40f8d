"""Staff admin for accounts, their members, API keys and freezes (SPEC §5).

An API key's SecretKey is never shown nor editable here; enabling, disabling and lifting a freeze
go through services that write the StaffActionLog.
"""

from django.contrib import admin, messages

from accounts.models import Account, ApiKey, Membership, StaffActionLog
from accounts.services import set_api_keys_enabled
from core.staff_admin import ReadOnlyAdmin


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ("secret_id", "enabled", "created_at", "last_used_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "created_at", "frozen_today")
    search_fields = ("name", "memberships__user__username")
    readonly_fields = ("created_at",)
    inlines = (MembershipInline, ApiKeyInline)

    @admin.display(boolean=True, description="frozen today")
    def frozen_today(self, obj: Account) -> bool:
        return obj.is_frozen()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "account", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "account__name")
    list_select_related = ("user", "account")
    raw_id_fields = ("user", "account")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("secret_id", "account", "enabled", "created_at", "last_used_at")
    list_filter = ("enabled",)
    search_fields = ("secret_id", "account__name")
    list_select_related = ("account",)
    # The encrypted SecretKey is deliberately absent: it is shown once, when the key is issued.
    fields = ("secret_id", "account", "enabled", "created_at", "last_used_at")
    readonly_fields = fields
    actions = ("enable_keys", "disable_keys")

    def has_add_permission(self, request) -> bool:
        # A key is issued with its SecretKey shown once: the console or `manage.py create_api_key`.
        return False

    @admin.action(description="Enable selected API keys", permissions=["change"])
    def enable_keys(self, request, queryset):
        changed = set_api_keys_enabled(queryset, True, request.user)
        self.message_user(request, f"Enabled {changed} API key(s).", messages.SUCCESS)

    @admin.action(description="Disable selected API keys", permissions=["change"])
    def disable_keys(self, request, queryset):
        changed = set_api_keys_enabled(queryset, False, request.user)
        self.message_user(request, f"Disabled {changed} API key(s).", messages.SUCCESS)


@admin.register(StaffActionLog)
class StaffActionLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "action", "target", "detail")
    list_filter = ("action",)
    search_fields = ("actor_label", "target", "detail")
