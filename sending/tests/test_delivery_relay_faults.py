"""A relay that fails in ways other than not answering: what each message of the group becomes.

An unforeseen failure before the end of the data (e.g. a login smtplib cannot do) means the relay is
unusable for now: nothing was accepted, so the message waits like "relay down" and the sweeper never
sends it a second time. A reply followed by the relay closing the connection is still that reply,
and the next message reconnects.
"""

from __future__ import annotations

import pytest

from domains.models import DomainDay
from sending.delivery import deliver_messages
from sending.models import Message
from sending.relay import Relay
from sending.tests.scripted_relay import scripted_relay  # noqa: F401  (fixture)
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send


def received(relay) -> list[str]:
    return [address for r in relay.received for address in r.rcpt_tos]


def by_recipient() -> dict[str, Message]:
    return {m.recipient.split("@")[0]: m for m in Message.objects.all()}


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    monkeypatch.setattr("sending.outbox.enqueue", lambda ids: None)


@pytest.mark.django_db(transaction=True)
def test_a_login_smtplib_cannot_do_defers_the_group_like_a_relay_down(
    scripted_relay, settings, sender, template, account, verified_domain  # noqa: F811
):
    scripted_relay.advertise_auth("XFOO")  # smtplib: "No suitable authentication method found"
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "relay-user", "secret"
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"relay_down": 3}
    assert received(scripted_relay) == []
    for message in by_recipient().values():
        # Not inside SMTP (the sweeper would send it every claim timeout), no attempt counted.
        assert (message.status, message.smtp_started_at, message.attempts) == (Message.DEFERRED, None, 0)
        assert message.next_attempt_at is not None
        last = message.events.order_by("-id").first()
        assert (last.kind, last.detail["relay"]) == ("deferred", "unreachable")
        assert "authentication" in last.detail["reply"]


@pytest.mark.django_db(transaction=True)
def test_an_unforeseen_failure_inside_the_relay_transaction_defers_it_unstarted(
    scripted_relay, sender, template, account, verified_domain, monkeypatch  # noqa: F811
):
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")
    import smtplib

    quote = smtplib._quote_periods
    calls = []

    def breaks_on_b(raw):  # the content of the second message, b's
        calls.append(raw)
        if len(calls) == 2:
            raise ValueError("unforeseen")
        return quote(raw)

    monkeypatch.setattr(smtplib, "_quote_periods", breaks_on_b)
    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 1, "relay_down": 2}
    assert received(scripted_relay) == ["a@example.org"]
    got = by_recipient()
    assert got["a"].status == Message.DELIVERED
    for name in "bc":
        assert (got[name].status, got[name].smtp_started_at, got[name].attempts) == (Message.DEFERRED, None, 0)


@pytest.mark.django_db(transaction=True)
def test_an_unknown_recipient_then_a_closed_connection_is_an_invalid_address(
    scripted_relay, sender, template, account, verified_domain  # noqa: F811
):
    scripted_relay.close_after("b", "550 5.1.1 <b@example.org>: User unknown", at="rcpt")
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 2, "invalid": 1}
    assert received(scripted_relay) == ["a@example.org", "c@example.org"]
    assert scripted_relay.connections == 2  # c went over a new connection
    b = by_recipient()["b"]
    assert (b.status, b.outcome, b.smtp_code, b.attempts) == (Message.BOUNCED, "invalid", 550, 1)
    row = DomainDay.objects.get(domain=verified_domain)
    assert (row.delivered, row.invalid) == (2, 1)


@pytest.mark.django_db(transaction=True)
def test_a_421_at_the_end_of_the_data_then_a_closed_connection_is_a_retry(
    scripted_relay, settings, sender, template, account, verified_domain  # noqa: F811
):
    scripted_relay.close_after("b", "421 4.3.2 Service shutting down", at="data")
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 2, "deferred": 1}
    assert received(scripted_relay) == ["a@example.org", "c@example.org"]
    b = by_recipient()["b"]
    assert (b.status, b.smtp_code, b.attempts, b.smtp_started_at) == (Message.DEFERRED, 421, 1, None)


@pytest.mark.django_db(transaction=True)
def test_an_accepted_message_then_a_closed_connection_does_not_hold_up_the_rest(
    scripted_relay, sender, template, account, verified_domain  # noqa: F811
):
    scripted_relay.close_after("a", "250 2.0.0 Ok: queued", at="data")
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 3}
    assert received(scripted_relay) == ["a@example.org", "b@example.org", "c@example.org"]
    assert scripted_relay.connections == 2
    assert set(Message.objects.values_list("status", flat=True)) == {Message.DELIVERED}


@pytest.mark.django_db(transaction=True)
def test_a_relay_gone_when_its_reused_connection_is_taken_again_is_down_after_one_reconnection(
    scripted_relay, sender, template, account, verified_domain, monkeypatch  # noqa: F811
):
    scripted_relay.close_after("a", "250 2.0.0 Ok: queued", at="data")
    messages = send(account, template, "a@example.org", "b@example.org", "c@example.org")
    connect = Relay._connect

    def refused_after_the_first(relay):
        if relay.connections:
            raise ConnectionRefusedError(111, "Connection refused")
        return connect(relay)

    monkeypatch.setattr(Relay, "_connect", refused_after_the_first)
    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 1, "relay_down": 2}
    got = by_recipient()
    for name in "bc":
        assert (got[name].status, got[name].smtp_started_at, got[name].attempts) == (Message.DEFERRED, None, 0)


@pytest.mark.django_db(transaction=True)
def test_a_relay_that_timed_the_idle_connection_out_is_reconnected_for_the_next_message(
    scripted_relay, sender, template, account, verified_domain  # noqa: F811
):
    # As Postfix does at smtpd_timeout: "421 ... timeout exceeded" unprompted, then the connection
    # closes; the next MAIL reads that 421. It is about the connection, not about b.
    scripted_relay.close_after("a", "250 2.0.0 Ok: queued\r\n421 4.4.2 Error: timeout exceeded", at="data")
    messages = send(account, template, "a@example.org", "b@example.org")

    report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 2}
    assert received(scripted_relay) == ["a@example.org", "b@example.org"]
    b = by_recipient()["b"]
    assert (b.status, b.attempts) == (Message.DELIVERED, 1)
