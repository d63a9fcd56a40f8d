"""Staff admin for sender domains and the reputation engine's records (SPEC §5).

Levels move only by the rules: level and custom cap are read-only here, and every staff action
(force-verify, work-order decisions, lifting a freeze) goes through a service that writes the StaffActionLog.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from accounts.models import AccountFreeze
from core.admin_search import IdnSearch
from core.staff_admin import ReadOnlyAdmin, staff_action_page
from domains import workorders
from domains.models import ClosedDay, DailyVolume, DomainDay, LevelChange, SenderDomain, WorkOrder
from domains.reputation.services import lift_freeze
from domains.services import DomainError, force_verify


@admin.register(SenderDomain)
class SenderDomainAdmin(IdnSearch, admin.ModelAdmin):
    list_display = ("name", "account", "status", "level", "daily_cap", "custom_cap", "verified_at", "last_checked_at")
    list_filter = ("status", "level")
    search_fields = ("name", "account__name")
    list_select_related = ("account",)
    actions = ("force_verify_action",)
    readonly_fields = (
        "name", "account", "status", "level", "daily_cap", "custom_cap", "dkim_selector", "dkim_bits",
        "dkim_public_key", "verification_token", "dns_results", "created_at", "verified_at", "last_checked_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        # A domain needs its DKIM key pair: customers create domains in the console or the API.
        return False

    @admin.display(description="daily cap")
    def daily_cap(self, obj: SenderDomain) -> str:
        return f"{obj.daily_cap:,}"

    @admin.action(description="Force-verify selected domains (without DNS; logged)", permissions=["change"])
    def force_verify_action(self, request, queryset):
        # Like a DNS verification, each removes the other accounts' claims on its name; a name another
        # account has verified is refused (so of two selected claims on one name, the first wins).
        done, refused = 0, []
        for domain in queryset.order_by("pk"):
            try:
                force_verify(domain, request.user, reason="forced in admin")
            except DomainError as exc:
                refused.append(f"{domain.name} (account {domain.account_id}): {exc.message}")
            else:
                done += 1
        if done:
            self.message_user(request, f"Force-verified {done} domain(s).", messages.SUCCESS)
        for text in refused:
            self.message_user(request, f"Not verified: {text}", messages.ERROR)


class WorkOrderApprovalForm(forms.Form):
    cap = forms.IntegerField(
        label="Custom daily cap", min_value=1, help_text="Must be more than 1,000,000 (the level-20 cap)."
    )
    note = forms.CharField(label="Note to the customer", required=False, widget=forms.Textarea(attrs={"rows": 3}))


class WorkOrderRejectionForm(forms.Form):
    note = forms.CharField(label="Reason (shown to the customer)", widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(WorkOrder)
class WorkOrderAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = ("domain", "requested_cap", "status", "filed_by", "filed_at", "approved_cap", "decided_by")
    list_filter = ("status",)
    search_fields = ("domain__name", "domain__account__name")
    list_select_related = ("domain", "filed_by", "decided_by")
    actions = ("approve_action", "reject_action")

    @admin.action(description="Approve the selected work order with a custom cap…", permissions=["staff_action"])
    def approve_action(self, request, queryset):
        orders = list(queryset)
        if len(orders) != 1:
            self.message_user(request, "Select exactly one work order to approve: each gets its own cap.", messages.ERROR)
            return None
        order = orders[0]

        def perform(data):
            workorders.approve(order, request.user, data["cap"], data["note"])
            self.message_user(request, f"Approved: {order.domain} may send {data['cap']:,} mails a day.", messages.SUCCESS)

        return staff_action_page(
            self, request, queryset, form_class=WorkOrderApprovalForm, title="Approve a work order",
            intro=f"{order.domain} (level {order.domain.level}) asks for {order.requested_cap:,} a day: {order.reason}",
            submit_label="Approve", perform=perform, refusals=(workorders.WorkOrderError,),
            initial={"cap": order.requested_cap},
        )

    @admin.action(description="Reject the selected work orders…", permissions=["staff_action"])
    def reject_action(self, request, queryset):
        def perform(data):
            done, refused = 0, []
            for order in queryset:
                try:
                    workorders.reject(order, request.user, data["note"])
                    done += 1
                except workorders.WorkOrderError as exc:
                    refused.append(f"{order.domain}: {exc}")
            if done:
                self.message_user(request, f"Rejected {done} work order(s).", messages.SUCCESS)
            for text in refused:
                self.message_user(request, text, messages.ERROR)

        return staff_action_page(
            self, request, queryset, form_class=WorkOrderRejectionForm, title="Reject work orders",
            intro="The customer sees this reason on the domain's page.", submit_label="Reject",
            perform=perform, refusals=(workorders.WorkOrderError,),
        )


@admin.register(DomainDay)
class DomainDayAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = (
        "domain", "day", "level", "cap", "requested", "sent", "delivered", "invalid", "spam", "bounced",
        "complaints", "opened", "closed_at",
    )
    list_filter = ("day",)
    search_fields = ("domain__name",)
    date_hierarchy = "day"
    list_select_related = ("domain",)


@admin.register(LevelChange)
class LevelChangeAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = ("domain", "at", "day", "from_level", "to_level", "rule", "effective_at")
    list_filter = ("rule",)
    search_fields = ("domain__name",)
    list_select_related = ("domain",)


@admin.register(ClosedDay)
class ClosedDayAdmin(ReadOnlyAdmin):
    list_display = ("day", "closed_at", "domains_evaluated", "downgrades")



@admin.register(DailyVolume)
class DailyVolumeAdmin(IdnSearch, ReadOnlyAdmin):
    list_display = (
        "day", "account", "domain", "mailbox_type", "requested", "sent", "delivered", "invalid", "spam",
        "bounced", "complaints", "opened", "clicked", "unsubscribed",
    )
    search_fields = ("domain__name", "mailbox_type", "account__name")
    date_hierarchy = "day"
    list_select_related = ("account", "domain")


class LiftFreezeForm(forms.Form):
    reason = forms.CharField(
        label="Why lift the freeze?", widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept on the freeze and in the staff action log.",
    )


@admin.register(AccountFreeze)
class AccountFreezeAdmin(ReadOnlyAdmin):
    list_display = ("account", "day", "rule", "frozen_at", "lifted_at", "lifted_by", "lift_reason", "ended_at")
    list_filter = ("day", "rule")
    search_fields = ("account__name",)
    list_select_related = ("account", "lifted_by")
    actions = ("lift_action",)

    @admin.action(description="Lift the selected freezes…", permissions=["staff_action"])
    def lift_action(self, request, queryset):
        def perform(data):
            lifted = 0
            for freeze in queryset:
                if freeze.lifted_at is None:
                    lift_freeze(freeze, request.user, data["reason"])
                    lifted += 1
            self.message_user(request, f"Lifted {lifted} freeze(s).", messages.SUCCESS)

        return staff_action_page(
            self, request, queryset, form_class=LiftFreezeForm, title="Lift account freezes",
            intro="The account may send again at once, for the rest of its day.", submit_label="Lift freeze",
            perform=perform, refusals=(ValueError,),
        )
