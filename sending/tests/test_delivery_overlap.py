"""The relay is taken up to the end of the data while the claim commits; it accepts nothing before.

sending.delivery sends MAIL, RCPT, DATA and the content in the relay's thread while the claim (with
smtp_started_at) commits, and sends the end of the data only after that commit. These tests hold
the invariant of SPEC §4.3 to that: a message whose claim did not commit never reaches the relay's
mailbox, whatever happened to the claim, and the rest of the group goes out as usual.
"""

from __future__ import annotations

import pytest
from django.db import connection

from sending import delivery
from sending.delivery import deliver_messages
from sending.models import Message
from sending.relay import Relay
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send
from tests.smtpsink import USER_UNKNOWN


def claims_with(monkeypatch, recipient: str, before_claim) -> None:
    """Run `before_claim(message)` just before the claim of the message to `recipient`."""
    original = delivery.claim

    def claim(message, report, group, *, start):
        if message.recipient == recipient:
            before_claim(message)
        return original(message, report, group, start=start)

    monkeypatch.setattr(delivery, "claim", claim)


def received(smtp_sink) -> list[str]:
    return [address for r in smtp_sink.received for address in r.rcpt_tos]


def test_a_message_another_worker_claimed_meanwhile_never_reaches_the_relay(
    smtp_sink, sender, template, account, verified_domain, monkeypatch  # noqa: F811
):
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")

    def other_worker_claims(message):
        Message.objects.filter(pk=message.pk).update(status=Message.SENDING, claimed_at=message.created_at)

    claims_with(monkeypatch, "b@example.org", other_worker_claims)
    report = deliver_messages([m.pk for m in messages])

    assert received(smtp_sink) == ["a@example.org", "c@example.org"]
    assert (report.outcomes, report.skipped) == ({"delivered": 2}, 1)
    statuses = dict(Message.objects.values_list("recipient", "status"))
    assert statuses == {"a@example.org": Message.DELIVERED, "b@example.org": Message.SENDING,
                        "c@example.org": Message.DELIVERED}


def test_a_worker_that_dies_in_the_claim_leaves_nothing_at_the_relay(
    smtp_sink, sender, template, account, verified_domain, monkeypatch  # noqa: F811
):
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")

    def killed(message):
        raise SystemExit("worker killed")

    claims_with(monkeypatch, "b@example.org", killed)
    with pytest.raises(SystemExit):
        deliver_messages([m.pk for m in messages])

    # The unfinished transaction of b was dropped with the connection: only a was accepted.
    assert received(smtp_sink) == ["a@example.org"]
    statuses = dict(Message.objects.values_list("recipient", "status"))
    assert statuses == {"a@example.org": Message.DELIVERED, "b@example.org": Message.QUEUED,
                        "c@example.org": Message.QUEUED}
    b = Message.objects.get(recipient="b@example.org")
    assert b.smtp_started_at is None  # never started: the sweeper may send it, once

    monkeypatch.undo()
    report = deliver_messages([m.pk for m in messages])
    assert received(smtp_sink) == ["a@example.org", "b@example.org", "c@example.org"]
    assert (report.outcomes, report.skipped) == ({"delivered": 2}, 1)


def test_a_recipient_refused_before_the_data_is_recorded_and_the_group_goes_on(
    smtp_sink, sender, template, account, verified_domain  # noqa: F811
):
    smtp_sink.reply("nobody", USER_UNKNOWN)
    messages = send(account, template, "nobody@example.org", "a@example.org")

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"invalid": 1, "delivered": 1}
    assert received(smtp_sink) == ["a@example.org"]
    assert smtp_sink.connections == 1
    nobody = Message.objects.get(recipient="nobody@example.org")
    assert (nobody.status, nobody.outcome, nobody.smtp_code) == (Message.BOUNCED, "invalid", 550)


def test_the_relay_connection_sends_the_end_of_data_at_once(smtp_sink):
    # The end of the data is a write of its own: with Nagle's algorithm on, it would wait for the
    # relay's delayed ACK (tens of milliseconds a message).
    import socket

    relay = Relay()
    smtp = relay._connect()
    try:
        assert smtp.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        smtp.close()


@pytest.mark.postgres(reason="ends the worker's PostgreSQL session")
@pytest.mark.django_db(transaction=True)
def test_a_reply_whose_connection_was_lost_is_written_on_a_fresh_one(
    smtp_sink, sender, template, account, verified_domain, monkeypatch  # noqa: F811
):
    # The database ends this worker's session (as a PostgreSQL restart does) after a was accepted by
    # the relay and before its reply was written (it goes with b's claim): the reply is written on a
    # fresh connection, so the sweeper does not send a again.
    import psycopg
    from django.db import OperationalError

    monkeypatch.setattr("sending.outbox.enqueue", lambda ids: None)
    messages = send(account, template, "a@example.org", "b@example.org")

    def session_ended(message):
        params = connection.settings_dict
        with psycopg.connect(dbname=params["NAME"], user=params["USER"], host=params["HOST"] or None,
                             port=params["PORT"] or None, password=params["PASSWORD"] or None,
                             autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])

    claims_with(monkeypatch, "b@example.org", session_ended)
    with pytest.raises(OperationalError):
        deliver_messages([m.pk for m in messages])

    assert received(smtp_sink) == ["a@example.org"]
    a, b = (Message.objects.get(recipient=r) for r in ("a@example.org", "b@example.org"))
    assert (a.status, a.outcome, a.smtp_code) == (Message.DELIVERED, "delivered", 250)
    assert (b.status, b.smtp_started_at) == (Message.QUEUED, None)
