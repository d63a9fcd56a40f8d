"""The staff action log: every action outside the rules says who did it and why (SPEC §5)."""

from accounts.models import StaffActionLog


def log_staff_action(user, action: str, target: str, detail: str = "", *, actor_label: str = "") -> StaffActionLog:
    label = actor_label or (user.get_username() if user is not None else "system")
    return StaffActionLog.objects.create(
        actor=user, actor_label=label, action=action, target=target, detail=detail
    )
