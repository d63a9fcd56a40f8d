"""The end of the data never goes out once the sweeper may have sent the message again.

The sweeper sends a message again SES_SWEEP_CLAIM_TIMEOUT_SECONDS after its smtp_started_at when
no reply was recorded (its worker is taken for dead). A live worker whose transaction got that old
(a claim that took long to commit, a slow relay) must not then finish it: it drops the transaction,
which the relay discards, and leaves the message to the sweeper — one copy, not two.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sending import delivery
from sending.delivery import deliver_messages
from sending.models import Message
from sending.sweeper import sweep_stale_messages
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send
from sending.tests.test_sweeper import eager_worker  # noqa: F401  (fixture)


def received(smtp_sink) -> list[str]:
    return [address for r in smtp_sink.received for address in r.rcpt_tos]


def claim_commits_late(monkeypatch, recipient: str, seconds: float) -> None:
    """The claim of the message to `recipient` returns `seconds` after its smtp_started_at."""
    original = delivery.claim

    def claim(message, report, group, *, start):
        claimed = original(message, report, group, start=start)
        if claimed and start and message.recipient == recipient:
            message.smtp_started_at -= dt.timedelta(seconds=seconds)
            Message.objects.filter(pk=message.pk).update(smtp_started_at=message.smtp_started_at)
        return claimed

    monkeypatch.setattr(delivery, "claim", claim)


@pytest.mark.django_db(transaction=True)
def test_a_transaction_as_old_as_the_claim_timeout_is_dropped_and_the_sweeper_sends_it_once(
    smtp_sink, settings, sender, template, account, verified_domain, eager_worker, monkeypatch  # noqa: F811
):
    monkeypatch.setattr("sending.outbox.enqueue", lambda ids: None)
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")
    claim_commits_late(monkeypatch, "b@example.org", settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS * 0.95)

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 2, "too_late": 1}
    assert received(smtp_sink) == ["a@example.org", "c@example.org"]
    b = Message.objects.get(recipient="b@example.org")
    assert (b.status, b.outcome, b.attempts) == (Message.SENDING, "", 0)
    assert b.smtp_started_at is not None  # left as a worker that died inside SMTP leaves it

    monkeypatch.undo()
    later = b.smtp_started_at + dt.timedelta(seconds=settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS + 1)
    assert sweep_stale_messages(now=later).startswith("re-enqueued 1, of which 1 interrupted inside SMTP")

    assert received(smtp_sink) == ["a@example.org", "c@example.org", "b@example.org"]  # b once
    assert Message.objects.get(recipient="b@example.org").status == Message.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_a_transaction_inside_the_margin_is_finished(
    smtp_sink, settings, sender, template, account, verified_domain, monkeypatch  # noqa: F811
):
    monkeypatch.setattr("sending.outbox.enqueue", lambda ids: None)
    messages = send(account, template, "a@example.org", "b@example.org")
    claim_commits_late(monkeypatch, "b@example.org", settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS * 0.85)

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 2}
    assert received(smtp_sink) == ["a@example.org", "b@example.org"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("started_ago", "finished"), [(409, True), (411, False)])
def test_the_reply_wait_is_kept_before_the_claim_timeout(
    smtp_sink, settings, sender, template, account, verified_domain, monkeypatch, started_ago, finished  # noqa: F811
):
    # With a slow relay's EMAIL_TIMEOUT of 95 s, the end of the data must go by 600 − 2 × 95 = 410 s
    # (not 540 s, the 10% margin): its reply may take 95 s, and the sweeper resends at 600 s.
    settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS, settings.EMAIL_TIMEOUT = 600, 95
    monkeypatch.setattr("sending.outbox.enqueue", lambda ids: None)
    messages = send(account, template, "a@example.org", "b@example.org")
    claim_commits_late(monkeypatch, "b@example.org", started_ago)

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == ({"delivered": 2} if finished else {"delivered": 1, "too_late": 1})
