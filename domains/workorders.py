"""Work orders (SPEC §3): only a level-20 domain may ask for a cap above the top of the table."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.staff import log_staff_action
from core.clock import platform_today
from domains.models import SenderDomain, WorkOrder
from domains.reputation import levels


class WorkOrderError(Exception):
    pass


def can_file(domain: SenderDomain) -> bool:
    return domain.is_verified and domain.level >= levels.top_level()


def file_work_order(domain: SenderDomain, user, requested_cap: int, reason: str) -> WorkOrder:
    top_cap = levels.cap_for(levels.top_level())
    if not can_file(domain):
        raise WorkOrderError(_("Only a verified level-%(top_level)s domain can ask for a higher cap.") % {"top_level": levels.top_level()})
    if not isinstance(requested_cap, int) or requested_cap <= top_cap:
        raise WorkOrderError(_("The requested cap must be more than %(top_cap)s mails a day.") % {"top_cap": format(top_cap, ',')})
    if not reason or not reason.strip():
        raise WorkOrderError(_("Say why you need the higher cap."))
    if domain.work_orders.filter(status=WorkOrder.PENDING).exists():
        raise WorkOrderError(_("This domain already has a work order waiting for staff."))
    return WorkOrder.objects.create(domain=domain, requested_cap=requested_cap, reason=reason.strip(), filed_by=user)


def approve(order: WorkOrder, staff_user, cap: int, note: str = "") -> WorkOrder:
    """Staff approve with a custom cap above the table's top; refused below level 20."""
    top_cap = levels.cap_for(levels.top_level())
    with transaction.atomic():
        order = WorkOrder.objects.select_for_update().select_related("domain").get(pk=order.pk)
        domain = SenderDomain.objects.select_for_update().get(pk=order.domain_id)
        if order.status != WorkOrder.PENDING:
            raise WorkOrderError(_("This work order is already %(lower)s.") % {"lower": order.get_status_display().lower()})
        if domain.level < levels.top_level():
            raise WorkOrderError(
                _("%(name)s is at level %(level)s: a custom cap exists only at level %(top_level)s.") % {"name": domain.name, "level": domain.level, "top_level": levels.top_level()}
            )
        if not isinstance(cap, int) or cap <= top_cap:
            raise WorkOrderError(_("The custom cap must be more than %(top_cap)s.") % {"top_cap": format(top_cap, ',')})
        order.status = WorkOrder.APPROVED
        order.approved_cap = cap
        order.decided_by = staff_user
        order.decided_at = timezone.now()
        order.decision_note = note
        order.save()
        domain.custom_cap = cap
        domain.save(update_fields=["custom_cap"])
        # Today's row takes the new cap at once.
        domain.days.filter(day=platform_today()).update(cap=domain.daily_cap)
        log_staff_action(staff_user, "approve_work_order", domain.name, f"custom cap {cap:,}. {note}".strip())
    return order


def reject(order: WorkOrder, staff_user, note: str) -> WorkOrder:
    if not note or not note.strip():
        raise WorkOrderError(_("Give the customer a reason for the rejection."))
    with transaction.atomic():
        order = WorkOrder.objects.select_for_update().get(pk=order.pk)
        if order.status != WorkOrder.PENDING:
            raise WorkOrderError(_("This work order is already %(lower)s.") % {"lower": order.get_status_display().lower()})
        order.status = WorkOrder.REJECTED
        order.decided_by = staff_user
        order.decided_at = timezone.now()
        order.decision_note = note.strip()
        order.save()
        log_staff_action(staff_user, "reject_work_order", order.domain.name, note.strip())
    return order
