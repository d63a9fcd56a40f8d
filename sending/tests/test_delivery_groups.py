"""A group of messages delivered over one connection: outcomes applied together, counted exactly once.

Delivery writes each reply with the next message's claim (one commit a message) and applies the
group's outcomes — state, events, the day's counters — in one transaction at the end (sending.
delivery._Group). These tests hold that to what record_event did one message at a time, including
a worker that dies between the replies and their application.
"""

from __future__ import annotations

import pytest

from domains.models import DailyVolume, DomainDay
from sending import delivery
from sending.delivery import deliver_messages
from sending.models import Message, MessageEvent
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send
from sending.tests.test_sweeper import age, eager_worker, sweep  # noqa: F401  (fixtures)
from tests.smtpsink import USER_UNKNOWN


def test_a_group_with_mixed_replies_counts_each_outcome_once(smtp_sink, sender, template, account,  # noqa: F811
                                                             verified_domain):
    smtp_sink.reply("nobody", USER_UNKNOWN)
    messages = send(account, template, "a@example.org", "nobody@example.org", "b@gmail.com", "c@example.org")

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 3, "invalid": 1}
    row = DomainDay.objects.get(domain=verified_domain)
    assert (row.sent, row.delivered, row.invalid) == (4, 3, 1)
    volume = {v.mailbox_type: v.delivered for v in DailyVolume.objects.filter(domain=verified_domain)}
    assert volume == {"example.org": 2, "gmail.com": 1}
    for message in Message.objects.filter(pk__in=[m.pk for m in messages]):
        assert message.status == (Message.BOUNCED if message.recipient.startswith("nobody") else Message.DELIVERED)
        assert message.smtp_code in (250, 550) and message.attempts == 1 and message.finished_at
        assert list(message.events.exclude(kind="queued").values_list("kind", flat=True)) == [message.outcome]

    # Delivering the same ids again changes nothing: each outcome was applied once.
    assert deliver_messages([m.pk for m in messages]).skipped == 4
    assert DomainDay.objects.get(domain=verified_domain).delivered == 3
    assert MessageEvent.objects.filter(kind="delivered").count() == 3


def test_a_worker_dead_before_applying_its_replies_is_neither_resent_nor_lost(
    smtp_sink, sender, template, account, verified_domain, eager_worker, django_capture_on_commit_callbacks,  # noqa: F811
    monkeypatch,
):
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")

    def killed(group):  # the process dies after the last reply was written, before the group is applied
        group.write_reply()
        raise SystemExit("worker killed")

    monkeypatch.setattr(delivery, "apply_replies", killed)
    with pytest.raises(SystemExit):
        deliver_messages([m.pk for m in messages])
    monkeypatch.undo()

    assert len(smtp_sink.received) == 3
    assert set(Message.objects.values_list("status", flat=True)) == {Message.SENDING}
    assert DomainDay.objects.get(domain=verified_domain).delivered == 0
    for message in messages:
        age(message, created_at=30, claimed_at=20, smtp_started_at=20)  # the claim timed out

    summary = sweep(django_capture_on_commit_callbacks)

    assert summary == "re-enqueued 0, of which 0 interrupted inside SMTP; 3 recorded replies applied"
    assert len(smtp_sink.received) == 3  # nobody got a second copy
    assert set(Message.objects.values_list("status", flat=True)) == {Message.DELIVERED}
    assert DomainDay.objects.get(domain=verified_domain).delivered == 3
    assert MessageEvent.objects.filter(kind="delivered").count() == 3
    assert sweep(django_capture_on_commit_callbacks).startswith("re-enqueued 0, of which 0 interrupted inside SMTP")
    assert DomainDay.objects.get(domain=verified_domain).delivered == 3


def test_a_level_rises_at_the_reply_that_allows_it_even_inside_a_group(smtp_sink, sender, template, account,  # noqa: F811
                                                                     verified_domain):
    """U2 holds for a moment only: at the first of these deliveries the delivery rate passes 90% while
    the open rate is still above 50%; after all twenty it is exactly 50%. Applied one reply at a
    time, as SPEC §3.2 asks, the domain goes up at that first reply; summed, it never would."""
    from domains.models import LevelChange, SenderDomain
    from domains.reputation import levels
    from sending.tests.send_fixtures import set_sent

    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=2)
    verified_domain.refresh_from_db()
    messages = send(account, template, *[f"reader{n}@example.org" for n in range(20)])
    cap = levels.cap_for(2)
    set_sent(verified_domain, cap, delivered=cap * 9 // 10, opened=cap * 46 // 100)  # 1,000: 900 and 460

    deliver_messages([m.pk for m in messages])

    verified_domain.refresh_from_db()
    assert verified_domain.level == 3
    change = LevelChange.objects.get(domain=verified_domain)
    assert (change.from_level, change.to_level, change.rule) == (2, 3, "U2")
    assert DomainDay.objects.get(domain=verified_domain).delivered == cap * 9 // 10 + 20
