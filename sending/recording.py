"""Recording what happened to a message: its status, its timeline, the day's counters, suppression.

    record_event         apply one event: the state change, the timeline, the counters, the blacklist
    record_final_events  the final SMTP outcomes of a delivery group, deliveries summed where no rule can move
    event_group          outcomes recorded together (listeners keep per-account lookups in group_memo)
    message_event        the signal listeners (callbacks, notifications) hear after each commit

Every path that learns an outcome (the SMTP reply, the simulator, a DSN or ARF report, the MTA
webhook, the open pixel, a click, an unsubscribe) calls record_event. It is idempotent: a state
change is one conditional UPDATE (written by sending.states, the one writer of a message's state),
so an outcome reported twice is counted once.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone

from core.addresses import is_simulator_address
from domains.reputation.services import counts_for_reputation, days_no_upgrade_can_move, record_outcome
from sending import states
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


_group_memo: contextvars.ContextVar[dict | None] = contextvars.ContextVar("sending_event_group", default=None)


@contextlib.contextmanager
def event_group():
    """Outcomes recorded together (one deliver_messages call): listeners of message_event may keep
    per-account lookups in group_memo() for its duration, so they read them once a group rather than
    once a message. A change to what they look up (a new callback endpoint) takes effect from the
    next group on. Nested groups share the outer one's memo."""
    if _group_memo.get() is not None:
        yield
        return
    token = _group_memo.set({})
    try:
        yield
    finally:
        _group_memo.reset(token)


def group_memo() -> dict | None:
    """The current event_group's memo (a dict listeners may fill), or None outside a group."""
    return _group_memo.get()


def record_event(message: Message, kind: str, detail: dict | None = None, *, fields: dict | None = None) -> bool:
    """Apply one event to a message. Returns False when it changed nothing (already recorded).

    `fields` (a final outcome only): more columns written by the same UPDATE as the state change,
    e.g. the SMTP reply that brought the outcome; nothing is written when the state did not change.

    1. A final SMTP outcome moves queued/sending/deferred → delivered or bounced; a bounce of a
       delivered message moves it to bounced and out of the delivered count (a late bounce).
    2. A follow-up (complaint, open, click, unsubscribe) counts once per message.
    3. The counters of the message's send day change, which runs the upgrade and freeze checks
       (when the message counts for reputation: its mailbox type as admitted decides).
    4. Invalid addresses go on the blacklist (never simulator addresses); unsubscribes are kept.
    """
    detail = detail or {}
    if fields and kind not in FINAL_KINDS:
        raise ValueError("only a final outcome writes more fields with its state change")
    now = timezone.now()
    counter = None
    with transaction.atomic(savepoint=False):
        if kind in FINAL_KINDS:
            counter = states.finish(message, kind, now, fields)  # `kind`, or `late_<kind>` for a late bounce
            if counter is None:
                return False
        elif kind in FOLLOW_UPS:
            if not states.mark_follow_up(message, FOLLOW_UPS[kind], now):
                return False
            counter = kind
        elif kind == "dropped":
            if not states.drop(message, detail.get("reason", "dropped"), now):
                return False
        elif kind not in TIMELINE_ONLY:
            raise ValueError(f"unknown message event {kind!r}")
        MessageEvent.objects.create(message=message, at=now, kind=kind, detail=detail)
        if kind == "invalid" and not is_simulator_address(message.recipient, settings.SES_SIMULATOR_DOMAIN):
            _suppress(message, Suppression.BLACKLIST, detail.get("reply", ""))
        if kind == "unsubscribed":
            _suppress(message, Suppression.UNSUBSCRIBED, "")
        # In the same transaction: a message's state and the day's counters never disagree.
        if counter is not None:
            record_outcome(message.domain, message.send_day, counter, message.recipient,
                           mailbox_type=message.mailbox_type)
    transaction.on_commit(lambda: message_event.send(sender=Message, message=message, kind=kind, detail=detail))
    return True


def record_final_events(items: list[tuple[Message, str, dict]]) -> int:
    """Apply the final SMTP outcomes of a group of messages; returns how many changed.

    The same as record_event for each, in reply order, with one saving: deliveries of a domain whose
    day no upgrade rule can move yet (its volume is below every rule's share of the cap, or it is at
    the top level, or the day is not today) are summed per domain, day and mailbox type and applied
    in one transaction each: one UPDATE, one INSERT of events, one record_outcome. Where an upgrade
    could fire, each reply is applied on its own, so a level rises at the very reply that allows it
    (SPEC §3.2). Each transaction moves one mailbox type's counters, so it locks the statistics rows
    in the same order as a reservation does: two writers of an account cannot deadlock.
    Listeners hear of each message after its commit, as with record_event.
    """
    summable = days_no_upgrade_can_move(
        {(m.domain_id, m.send_day) for m, kind, _ in items if kind == "delivered"}
    )
    grouped: dict[tuple[int, object, str], list[tuple[Message, dict]]] = {}
    changed = 0
    for message, kind, detail in items:
        # A delivery that does not count for reputation moves no rule: always summable.
        if kind == "delivered" and (
            (message.domain_id, message.send_day) in summable or not counts_for_reputation(message.mailbox_type)
        ):
            key = (message.domain_id, message.send_day, message.mailbox_type)
            grouped.setdefault(key, []).append((message, detail))
        else:
            changed += record_event(message, kind, detail)
    for key in sorted(grouped, key=lambda k: (k[0], str(k[1]), k[2])):
        changed += _apply_deliveries(grouped[key])
    return changed


def _apply_deliveries(items: list[tuple[Message, dict]]) -> int:
    """Deliveries of one domain, day and mailbox type, in one transaction; how many changed."""
    delivered = {message.pk: (message, detail) for message, detail in items}
    with transaction.atomic():
        now = timezone.now()
        # The rows still open are locked first, so exactly these are the ones that change and get counted.
        open_ids = states.deliver_together({pk: message for pk, (message, _) in delivered.items()}, now)
        if not open_ids:
            return 0
        MessageEvent.objects.bulk_create([
            MessageEvent(message=delivered[pk][0], at=now, kind="delivered", detail=delivered[pk][1]) for pk in open_ids
        ])
        first = delivered[open_ids[0]][0]
        record_outcome(first.domain, first.send_day, "delivered", first.recipient, n=len(open_ids),
                       mailbox_type=first.mailbox_type)
        for pk in open_ids:
            message, detail = delivered[pk]
            transaction.on_commit(
                lambda m=message, d=detail: message_event.send(sender=Message, message=m, kind="delivered", detail=d)
            )
    return len(open_ids)


def _suppress(message: Message, reason: str, detail: str) -> None:
    try:
        with transaction.atomic():
            Suppression.objects.create(
                account_id=message.account_id, email=message.recipient.lower(), reason=reason, detail=detail[:500]
            )
    except IntegrityError:
        pass  # already suppressed
