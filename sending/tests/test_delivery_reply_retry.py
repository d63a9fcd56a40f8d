"""A reply whose database connection was lost is retried for as long as the sweeper leaves it alone.

The sweeper sends a message again SES_SWEEP_CLAIM_TIMEOUT_SECONDS after its smtp_started_at when no
reply was recorded. A worker that lost its database (a PostgreSQL restart) keeps retrying the reply
of the message the relay accepted until half that time has passed since the message started SMTP —
a restart of a minute no longer costs a second copy — and then gives up (the sweeper's case).
The clock is a fake one: the retries' pauses advance it, nothing waits.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError

from sending import delivery, states
from sending.delivery import deliver_messages
from sending.models import Message
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send


class FakeClock:
    """Stands in for the time module in sending.delivery: sleep() advances monotonic()."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def database_down_for(monkeypatch, clock: FakeClock, seconds: float | None) -> None:
    """Writing the group's last reply fails as on a lost connection for `seconds` (None: for ever)."""
    original = states.PendingReplies.write_reply

    def write_reply(group):
        if seconds is None or clock.slept < seconds:
            raise OperationalError("server closed the connection unexpectedly")
        return original(group)

    monkeypatch.setattr(states.PendingReplies, "write_reply", write_reply)


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(delivery, "time", fake)
    monkeypatch.setattr("sending.outbox.enqueue", lambda ids: None)
    return fake


@pytest.mark.django_db(transaction=True)
def test_a_reply_is_written_after_a_database_outage_of_a_minute(
    smtp_sink, clock, sender, template, account, verified_domain, monkeypatch  # noqa: F811
):
    [message] = send(account, template, "a@example.org")
    database_down_for(monkeypatch, clock, 60)

    report = deliver_messages([message.pk])

    assert report.outcomes == {"delivered": 1}
    assert len(smtp_sink.received) == 1
    message.refresh_from_db()
    assert (message.status, message.outcome, message.smtp_code) == (Message.DELIVERED, "delivered", 250)


@pytest.mark.django_db(transaction=True)
def test_the_retry_gives_up_at_half_the_claim_timeout_after_the_message_started(
    smtp_sink, clock, settings, sender, template, account, verified_domain, monkeypatch  # noqa: F811
):
    [message] = send(account, template, "a@example.org")
    database_down_for(monkeypatch, clock, None)

    with pytest.raises(OperationalError):
        deliver_messages([message.pk])

    half = settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS / 2
    assert half - 2.5 < clock.slept <= half  # the last pause (at most 2 s) would have overrun it
    message.refresh_from_db()
    # No reply on record: the sweeper's case (sent again after the claim timeout).
    assert (message.status, message.outcome) == (Message.SENDING, "")
    assert message.smtp_started_at is not None


def test_one_attempt_to_reconnect_to_postgresql_is_bounded(tmp_path):
    # Without connect_timeout, a retry against a server that is away (no RST) blocks ~2 minutes.
    from core.env import database_from_url

    entry = database_from_url("postgres://u@db.internal:5432/ses", tmp_path, connect_timeout=5)
    assert entry["OPTIONS"]["connect_timeout"] == 5
    in_url = database_from_url("postgres://u@db.internal/ses?connect_timeout=3", tmp_path, connect_timeout=5)
    assert in_url["OPTIONS"]["connect_timeout"] == "3"
    assert "connect_timeout" not in database_from_url("sqlite:///x.sqlite3", tmp_path, connect_timeout=5)["OPTIONS"]


@pytest.mark.postgres(reason="connect_timeout is a PostgreSQL connection parameter")
def test_the_connect_timeout_setting_reaches_the_postgresql_connection(settings):
    from django.db import connection

    assert connection.settings_dict["OPTIONS"]["connect_timeout"] == settings.DATABASE_CONNECT_TIMEOUT
    assert int(connection.get_connection_params()["connect_timeout"]) == settings.DATABASE_CONNECT_TIMEOUT
