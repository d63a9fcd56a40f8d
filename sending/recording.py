"""Recording what happened to a message: its status, its timeline, the day's counters, suppression.

Every path that learns an outcome (the SMTP reply, the simulator, a DSN or ARF report, the MTA
webhook, the open pixel, a click, an unsubscribe) calls record_event. It is idempotent: a state
change is one conditional UPDATE, so an outcome reported twice is counted once.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone

from domains.reputation.services import record_outcome
from sending.models import Message, MessageEvent, Suppression

log = logging.getLogger(__name__)

# message: Message, kind: str, detail: dict — after commit; callbacks and notifications listen here.
message_event = Signal()

FINAL_KINDS = {"delivered", "invalid", "spam", "bounced"}
FOLLOW_UPS = {
    "complaint": "complained_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "unsubscribed": "unsubscribed_at",
}
# Events on the timeline that change no counter.
TIMELINE_ONLY = {"queued", "sending", "deferred", "dropped", "retry"}


def is_simulator_address(address: str) -> bool:
    return address.rsplit("@", 1)[-1].strip().lower().rstrip(".") == settings.SES_SIMULATOR_DOMAIN


def record_event(message: Message, kind: str, detail: dict | None = None) -> bool:
    """Apply one event to a message. Returns False when it changed nothing (already recorded).

    1. A final SMTP outcome moves queued/sending/deferred → delivered or bounced; a bounce of a
       delivered message moves it to bounced and out of the delivered count (a late bounce).
    2. A follow-up (complaint, open, click, unsubscribe) counts once per message.
    3. The counters of the message's send day change, which runs the upgrade and freeze checks.
    4. Invalid addresses go on the blacklist (never simulator addresses); unsubscribes are kept.
    """
    detail = detail or {}
    now = timezone.now()
    counter = None
    with transaction.atomic(savepoint=False):
        if kind in FINAL_KINDS:
            status = Message.DELIVERED if kind == "delivered" else Message.BOUNCED
            changed = Message.objects.filter(
                pk=message.pk, status__in=[Message.QUEUED, Message.SENDING, Message.DEFERRED]
            ).update(status=status, outcome=kind, finished_at=now)
            counter = kind
            if changed:
                message.status, message.outcome, message.finished_at = status, kind, now
            elif kind != "delivered":
                changed = Message.objects.filter(pk=message.pk, status=Message.DELIVERED).update(
                    status=Message.BOUNCED, outcome=kind
                )
                counter = f"late_{kind}"
                if changed:
                    message.status, message.outcome = Message.BOUNCED, kind
            if not changed:
                return False
        elif kind in FOLLOW_UPS:
            field = FOLLOW_UPS[kind]
            changed = Message.objects.filter(pk=message.pk, **{f"{field}__isnull": True}).update(**{field: now})
            if not changed:
                return False
            setattr(message, field, now)
            counter = kind
        elif kind == "dropped":
            outcome = detail.get("reason", "dropped")
            changed = Message.objects.filter(pk=message.pk, status__in=[Message.QUEUED, Message.DEFERRED]).update(
                status=Message.DROPPED, outcome=outcome, finished_at=now
            )
            if not changed:
                return False
            message.status, message.outcome, message.finished_at = Message.DROPPED, outcome, now
        elif kind not in TIMELINE_ONLY:
            raise ValueError(f"unknown message event {kind!r}")
        MessageEvent.objects.create(message=message, at=now, kind=kind, detail=detail)
        if kind == "invalid" and not is_simulator_address(message.recipient):
            _suppress(message, Suppression.BLACKLIST, detail.get("reply", ""))
        if kind == "unsubscribed":
            _suppress(message, Suppression.UNSUBSCRIBED, "")
        # In the same transaction: a message's state and the day's counters never disagree.
        if counter is not None:
            record_outcome(message.domain, message.send_day, counter, message.recipient)
    transaction.on_commit(lambda: message_event.send(sender=Message, message=message, kind=kind, detail=detail))
    return True


def _suppress(message: Message, reason: str, detail: str) -> None:
    try:
        with transaction.atomic():
            Suppression.objects.create(
                account_id=message.account_id, email=message.recipient.lower(), reason=reason, detail=detail[:500]
            )
    except IntegrityError:
        pass  # already suppressed
