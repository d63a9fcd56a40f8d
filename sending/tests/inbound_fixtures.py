"""Builders for the inbound, tracking and callback tests: messages sent the way the engine sends them.

A message is reserved against the domain's cap and then recorded as delivered through record_event,
so the day's counters are what a real send leaves behind.
"""

from __future__ import annotations

import uuid

from core.clock import platform_today
from domains.models import DomainDay
from domains.reputation.services import reserve_quota
from sending.models import Message, MessageEvent, Suppression
from sending.recording import record_event


def make_message(domain, recipient: str = "reader@example.org", *, delivered: bool = True, message_id: str = "") -> Message:
    reservation = reserve_quota(domain, [recipient])
    assert reservation.ok
    message = Message.objects.create(
        account=domain.account,
        domain=domain,
        message_id=message_id or uuid.uuid4().hex,
        request_id=uuid.uuid4().hex,
        from_email=f"news@{domain.name}",
        from_name="Alice News",
        recipient=recipient,
        mailbox_type=recipient.rsplit("@", 1)[-1],
        subject="Your order has shipped",
        send_day=platform_today(),
    )
    if delivered:
        assert record_event(message, "delivered", {"reply": "250 2.0.0 Ok: queued", "code": 250})
        message.refresh_from_db()
    return message


def counters(domain) -> dict[str, int]:
    row = DomainDay.objects.get(domain=domain, day=platform_today())
    return {name: getattr(row, name) for name in DomainDay.COUNTERS}


def written() -> tuple[int, int]:
    """Timeline events and suppressions: both unchanged when an input is refused."""
    return MessageEvent.objects.count(), Suppression.objects.count()
