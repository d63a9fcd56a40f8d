"""Staff admin for sending (SPEC §5): the sensitive-word list, template verdicts, and read-only
records of what was sent. Template approvals and rejections go through sending.services, which
logs them in the StaffActionLog."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from core.admin_search import IdnSearch
from core.staff_admin import ReadOnlyAdmin, staff_action_page
from sending import link_warnings, services
from sending.models import Message, MessageEvent, SenderAddress, SensitiveWord, Suppression, Template


@admin.register(SenderAddress)
class SenderAddressAdmin(IdnSearch, admin.ModelAdmin):
    list_display = ("email", "display_name", "account", "domain", "created_at")
    search_fields = ("email", "display_name", "account__name")
    list_select_related = ("account", "domain")
    # Customers create addresses (the service checks the domain and the limit); staff may only remove.
    readonly_fields = ("email", "display_name", "account", "domain", "created_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SensitiveWord)
class SensitiveWordAdmin(admin.ModelAdmin):
    list_display = ("word", "created_at")
    search_fields = ("word",)
    fields = ("word",)


class TemplateApprovalForm(forms.Form):
    note = forms.CharField(label="Note (optional)", required=False, widget=forms.Textarea(attrs={"rows": 3}))


class TemplateRejectionForm(forms.Form):
    note = forms.CharField(label="Reason (shown to the customer)", widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "status", "transactional", "reviewed_by", "updated_at", "link_warnings_count")
    list_filter = ("status", "transactional")
    search_fields = ("name", "subject", "account__name")
    list_select_related = ("account",)
    actions = ("approve_action", "reject_action")
    # The content is the customer's; staff decide on it through the actions, which are logged.
    readonly_fields = (
        "account", "name", "subject", "html", "text", "transactional", "status", "review_reason",
        "review_warnings", "link_warnings", "reviewed_by", "created_at", "updated_at",
    )
    fields = readonly_fields

    @admin.display(description="Suspicious links")
    def link_warnings_count(self, template: Template) -> int | str:
        return len(link_warnings.suspicious_links(template.html)) or ""

    @admin.display(description="Suspicious links")
    def link_warnings(self, template: Template) -> str:
        # Every http(s) link becomes a redirect on our host: staff see links shaped like phishing.
        found = link_warnings.suspicious_links(template.html)
        if not found:
            return "None"
        return format_html_join(mark_safe("<br>"), "{} — {}", found)

    def has_add_permission(self, request) -> bool:
        return False

    def _decide(self, request, queryset, *, status: int, form_class, title: str, submit_label: str):
        def perform(data):
            for template in queryset:
                services.set_template_status(template, status, request.user, data["note"])
            self.message_user(request, f"{submit_label}d {len(queryset)} template(s).", messages.SUCCESS)

        return staff_action_page(
            self, request, queryset, form_class=form_class, title=title,
            intro="The decision replaces the automatic review until the customer edits the template.",
            submit_label=submit_label, perform=perform, refusals=(services.SendError,),
        )

    @admin.action(description="Approve the selected templates…", permissions=["change"])
    def approve_action(self, request, queryset):
        return self._decide(request, queryset, status=Template.APPROVED, form_class=TemplateApprovalForm,
                            title="Approve templates", submit_label="Approve")

    @admin.action(description="Reject the selected templates…", permissions=["change"])
    def reject_action(self, request, queryset):
        return self._decide(request, queryset, status=Template.REJECTED, form_class=TemplateRejectionForm,
                            title="Reject templates", submit_label="Reject")


@admin.register(Suppression)
class SuppressionAdmin(IdnSearch, admin.ModelAdmin):
    list_display = ("email", "account", "reason", "created_at", "detail")
    list_filter = ("reason",)
    search_fields = ("email", "account__name")
    list_select_related = ("account",)
    readonly_fields = ("email", "account", "reason", "created_at", "detail")

    def has_add_permission(self, request) -> bool:
        return False


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    fields = ("at", "kind", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = ("message_id", "account", "domain", "recipient", "status", "outcome", "send_day", "created_at")
    list_filter = ("status", "outcome", "send_day")
    search_fields = ("message_id", "request_id", "recipient", "account__name", "domain__name")
    list_select_related = ("account", "domain")
    date_hierarchy = "send_day"
    inlines = (MessageEventInline,)


@admin.register(MessageEvent)
class MessageEventAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = ("message", "at", "kind")
    list_filter = ("kind",)
    search_fields = ("message__message_id", "message__recipient")
    list_select_related = ("message",)
