"""Staff admin for sender domains and the reputation engine's records (SPEC §5).

Levels move only by the rules: level and custom cap are read-only here, and every staff action
(force-verify, work-order decisions) goes through a service that writes the StaffActionLog.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from core.admin_search import IdnSearch
from domains import workorders
from domains.models import ClosedDay, DomainDay, LevelChange, SenderDomain, StaffActionLog, WorkOrder
from domains.services import DomainError, force_verify


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the engine writes: staff look, nobody edits (the history must stay true)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_staff_action_permission(self, request) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


def staff_action_page(
    modeladmin: admin.ModelAdmin,
    request,
    queryset,
    *,
    form_class: type[forms.Form],
    title: str,
    intro: str,
    submit_label: str,
    perform: Callable[[dict], None],
    refusals: tuple[type[Exception], ...] = (),
    initial: dict | None = None,
):
    """An admin action's intermediate page: ask for input, then `perform` it.

    A refusal from the service (one of `refusals`) is shown on the same page, and the service has
    written nothing. Returning None sends the browser back to the changelist.
    """
    if request.POST.get("apply"):
        form = form_class(request.POST)
        if form.is_valid():
            try:
                perform(form.cleaned_data)
            except refusals as exc:
                form.add_error(None, str(exc))
            else:
                return None
    else:
        form = form_class(initial=initial)
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "intro": intro,
        "submit_label": submit_label,
        "form": form,
        "queryset": queryset,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/staff_action_form.html", context)


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


@admin.register(StaffActionLog)
class StaffActionLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "action", "target", "detail")
    list_filter = ("action",)
    search_fields = ("actor_label", "target", "detail")
