"""A delivery group works for one turn (SES_DELIVERY_TURN_SECONDS), then hands the messages it has not
reached back to the queues: no group holds a worker long while another account's message waits
(docs/architecture.md, "Queues"). What it hands back is untouched, and delivered once later.
The clock is a fake one that moves one second with each message the relay receives."""

from __future__ import annotations

import pytest

from core import queues
from sending import delivery, tasks
from sending.delivery import deliver_messages
from sending.models import Message
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send


class RelayClock:
    """Stands in for the time module in sending.delivery: a second passes per message received."""

    def __init__(self, smtp_sink) -> None:
        self.smtp_sink = smtp_sink

    def monotonic(self) -> float:
        return float(len(self.smtp_sink.received))

    def sleep(self, seconds: float) -> None:
        pass


@pytest.fixture
def handed(monkeypatch):
    handed = []
    monkeypatch.setattr("sending.outbox.enqueue", lambda ids: None)
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, queue, **options: handed.append((queue, args[0])))
    return handed


def test_a_group_whose_turn_ends_hands_the_rest_back_untouched_and_it_is_delivered_once_later(
    settings, smtp_sink, sender, template, account, handed, monkeypatch, django_capture_on_commit_callbacks  # noqa: F811
):
    settings.SES_DELIVERY_TURN_SECONDS = 2
    first, second, third = send(account, template, "a@example.org", "b@example.org", "c@example.org")
    monkeypatch.setattr(delivery, "time", RelayClock(smtp_sink))

    with django_capture_on_commit_callbacks(execute=True):
        report = deliver_messages([first.pk, second.pk, third.pk], turn_seconds=settings.SES_DELIVERY_TURN_SECONDS)

    assert (report.outcomes, report.handed_back) == ({"delivered": 2}, 1)
    assert handed == [(queues.DELIVERY_BACKLOG, [third.pk])]
    third.refresh_from_db()
    assert (third.status, third.claimed_at, third.smtp_started_at, third.attempts) == (Message.QUEUED, None, None, 0)

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_messages(handed[0][1]).outcomes == {"delivered": 1}
    received = [envelope.rcpt_tos for envelope in smtp_sink.received]
    assert received == [("a@example.org",), ("b@example.org",), ("c@example.org",)]


def test_a_group_always_delivers_its_first_message_however_short_its_turn(
    settings, smtp_sink, sender, template, account, handed, monkeypatch, django_capture_on_commit_callbacks  # noqa: F811
):
    settings.SES_DELIVERY_TURN_SECONDS = 1
    messages = send(account, template, "a@example.org", "b@example.org")
    clock = RelayClock(smtp_sink)
    monkeypatch.setattr(clock, "monotonic", lambda: 10_000.0 + len(smtp_sink.received) * 10)  # every step is late
    monkeypatch.setattr(delivery, "time", clock)

    with django_capture_on_commit_callbacks(execute=True):
        report = deliver_messages([m.pk for m in messages], turn_seconds=settings.SES_DELIVERY_TURN_SECONDS)

    assert (report.outcomes, report.handed_back) == ({"delivered": 1}, 1)
    assert handed == [(queues.DELIVERY_BACKLOG, [messages[1].pk])]
