"""The outbox sweeper: the periodic job (ops.periodic JOBS) that hands out again what the broker or a worker lost.

    sweep_stale_messages  lost queued messages, dead claims, deferred messages due, replies recorded
                          and not applied, transactions a dead worker left inside SMTP: each handed
                          to the backlog queue once (sending.outbox.enqueue_backlog)
    _hand_out             the candidates still matching a condition, each taken by one conditional
                          UPDATE (sending.states.hand_out), so two sweepers enqueue a message once

Why a message whose SMTP transaction started is sent again only after the claim timeout: docs/delivery.md.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from sending import outbox, states
from sending.delivery import ENQUEUE_CHUNK
from sending.models import Message
from sending.recording import record_event, record_final_events


def sweep_stale_messages(now: dt.datetime | None = None) -> str:
    """Re-enqueue what the broker or a worker lost.

    1. Queued messages older than SES_SWEEP_QUEUED_AFTER_SECONDS and not handed out since then
       (the broker lost the task, or it was never sent).
    2. Claimed messages whose SMTP transaction never started, SES_SWEEP_CLAIM_TIMEOUT_SECONDS
       after the claim (the worker died first): back to queued.
    3. Deferred messages whose next attempt is due.
    4. A message whose SMTP transaction started SES_SWEEP_CLAIM_TIMEOUT_SECONDS ago and whose reply
       was never recorded: its worker died inside the transaction (a live one would have timed out
       long before, see EMAIL_TIMEOUT). The relay may or may not have it; it is sent again, the
       one case in which a message may go out twice (SPEC §4.3) — nothing is lost. A message whose
       reply was recorded is final or deferred and is never re-sent by the sweeper.

    Each hand-out is one conditional UPDATE of `claimed_at` (the "handed out at" mark while a message
    waits), so two sweepers running at once enqueue a message once.
    """
    now = now or timezone.now()
    recently = now - dt.timedelta(seconds=settings.SES_SWEEP_QUEUED_AFTER_SECONDS)
    not_handed_out = Q(claimed_at__isnull=True) | Q(claimed_at__lt=recently)
    ids: list[int] = []

    stuck_queued = Message.objects.filter(not_handed_out, status=Message.QUEUED, created_at__lt=recently)
    ids += _hand_out(stuck_queued, now, Q(status=Message.QUEUED) & not_handed_out)

    claim_cutoff = now - dt.timedelta(seconds=settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS)
    dead_claims = Message.objects.filter(
        status=Message.SENDING, smtp_started_at__isnull=True, claimed_at__lt=claim_cutoff
    )
    ids += _hand_out(
        dead_claims, now, Q(status=Message.SENDING, smtp_started_at__isnull=True, claimed_at__lt=claim_cutoff),
        status=Message.QUEUED,
    )

    due = Q(status=Message.DEFERRED, next_attempt_at__lte=now) & not_handed_out
    ids += _hand_out(Message.objects.filter(due), now, due)

    # A reply recorded (`outcome` set while sending) whose worker died before applying it: apply it.
    replied = Message.objects.filter(status=Message.SENDING, smtp_started_at__lt=claim_cutoff).exclude(outcome="")
    applied = 0
    for message in replied.select_related("domain").order_by("id")[:5000]:
        detail = {"reply": message.smtp_reply, "code": message.smtp_code, "recovered": True}
        applied += record_final_events([(message, message.outcome, detail)])

    interrupted = Q(status=Message.SENDING, smtp_started_at__lt=claim_cutoff, outcome="")
    resent = _hand_out(
        Message.objects.filter(interrupted), now, interrupted, status=Message.QUEUED, smtp_started_at=None
    )
    for message in Message.objects.filter(pk__in=resent):
        record_event(message, "retry", {"reason": "the worker died inside the SMTP transaction; sent again"})
    ids += resent

    for start in range(0, len(ids), ENQUEUE_CHUNK):
        outbox.enqueue_backlog(ids[start : start + ENQUEUE_CHUNK])
    summary = f"re-enqueued {len(ids)}, of which {len(resent)} interrupted inside SMTP"
    return f"{summary}; {applied} recorded replies applied" if applied else summary


def _hand_out(candidates, now: dt.datetime, still: Q, **changes) -> list[int]:
    """The first 5000 `candidates` (by id) that `still` matches when their turn comes, handed out (states.hand_out)."""
    taken = []
    for pk in candidates.order_by("id").values_list("id", flat=True)[:5000]:
        if states.hand_out(pk, now, still, **changes):
            taken.append(pk)
    return taken
