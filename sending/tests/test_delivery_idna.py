"""Delivery of rows stored before non-ASCII domains were admitted as IDNA A-labels (core/addresses.py).

An older row may hold a Unicode domain (`ann@bücher.example`): it goes out with its A-label in RCPT TO
and in To. A row with no ASCII form (`ann@☃.example`, which Django once accepted) can never be sent
without SMTPUTF8: that one message is refused as an invalid recipient, and the rest of its group goes on.
"""

from __future__ import annotations

import pytest

from sending import services
from sending.delivery import deliver_messages
from sending.models import Message, MessageEvent, Suppression
from sending.sweeper import sweep_stale_messages
from sending.tests.send_fixtures import SENDER, sender, template  # noqa: F401  (fixtures)
from tests.smtpsink import closed_port

UNICODE = "ann@bücher.example"
A_LABEL = "ann@xn--bcher-kva.example"
NO_ASCII_FORM = "ann@☃.example"


def send_one(account, template, to: str, **options) -> Message:  # noqa: F811
    result = services.send_email(
        account, from_address=SENDER, destinations=[to], template_id=template.pk,
        template_data={"name": "Ann", "code": "1"}, **options,
    )
    return Message.objects.get(message_id__in=result.message_ids)


def stored_as(message: Message, recipient: str) -> Message:
    """The row as an older version stored it (admission now refuses or converts these addresses)."""
    Message.objects.filter(pk=message.pk).update(recipient=recipient)
    message.refresh_from_db()
    return message


def left_waiting() -> list[str]:
    return list(Message.objects.exclude(status__in=Message.FINAL).values_list("recipient", flat=True))


@pytest.fixture
def legacy_and_normal(account, template, sender):  # noqa: F811
    def make(legacy: str, **options) -> tuple[Message, Message]:
        first = stored_as(send_one(account, template, "placeholder@example.org", **options), legacy)
        second = send_one(account, template, "bob@example.org", **options)
        return first, second
    return make


@pytest.mark.parametrize("bulk", [False, True])
def test_an_older_unicode_domain_row_goes_out_as_its_a_label(smtp_sink, legacy_and_normal, bulk):
    first, second = legacy_and_normal(UNICODE, bulk=bulk)

    deliver_messages([first.pk, second.pk])

    assert [r.rcpt_tos for r in smtp_sink.received] == [(A_LABEL,), ("bob@example.org",)]
    assert smtp_sink.received[0].message["To"] == A_LABEL
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, first.outcome) == (Message.DELIVERED, "delivered")
    assert (second.status, second.outcome) == (Message.DELIVERED, "delivered")
    assert left_waiting() == []


@pytest.mark.parametrize("bulk", [False, True])
def test_a_row_with_no_ascii_form_is_refused_as_invalid_and_the_group_goes_on(smtp_sink, legacy_and_normal, bulk):
    first, second = legacy_and_normal(NO_ASCII_FORM, bulk=bulk)

    report = deliver_messages([first.pk, second.pk])

    assert [r.rcpt_tos for r in smtp_sink.received] == [("bob@example.org",)]
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, first.outcome) == (Message.BOUNCED, "invalid")
    assert "has no ASCII form" in first.smtp_reply and NO_ASCII_FORM in first.smtp_reply
    assert "5.1.3" in first.smtp_reply
    assert first.attempts == 1 and first.smtp_started_at is None  # no SMTP transaction was begun
    event = MessageEvent.objects.get(message=first, kind="invalid")
    assert "has no ASCII form" in event.detail["reply"]
    # The same consequence as a relay's 5.1.x: the address is blacklisted.
    assert Suppression.objects.filter(email=NO_ASCII_FORM, reason=Suppression.BLACKLIST).exists()
    assert (second.status, second.outcome) == (Message.DELIVERED, "delivered")
    assert report.outcomes == {"invalid": 1, "delivered": 1}
    assert left_waiting() == []
    assert sweep_stale_messages().startswith("re-enqueued 0")


def test_a_row_with_no_ascii_form_after_a_normal_one_is_refused_too(smtp_sink, legacy_and_normal):
    first, second = legacy_and_normal(NO_ASCII_FORM)

    deliver_messages([second.pk, first.pk])

    assert [r.rcpt_tos for r in smtp_sink.received] == [("bob@example.org",)]
    assert Message.objects.get(pk=first.pk).outcome == "invalid"
    assert Message.objects.get(pk=second.pk).status == Message.DELIVERED
    assert left_waiting() == []


def test_the_refusal_needs_no_relay(settings, legacy_and_normal):
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port(), 2
    first, second = legacy_and_normal(NO_ASCII_FORM)

    report = deliver_messages([second.pk, first.pk])

    assert Message.objects.get(pk=first.pk).outcome == "invalid"
    second.refresh_from_db()
    assert second.status == Message.DEFERRED and second.attempts == 0  # the relay's absence counts nothing
    assert report.outcomes == {"relay_down": 1, "invalid": 1}


def one_send(account, template, to: list[str], cc: list[str]) -> list[Message]:  # noqa: F811
    """One SendEmail call; each (placeholder, stored) pair's row is rewritten as an older version stored it."""
    result = services.send_email(
        account, from_address=SENDER, destinations=[p for p, _ in to], cc=[p for p, _ in cc],
        template_id=template.pk, template_data={"name": "Ann", "code": "1"},
    )
    for placeholder, stored in to + cc:
        Message.objects.filter(request_id=result.request_id, recipient=placeholder).update(recipient=stored)
    return list(Message.objects.filter(request_id=result.request_id).order_by("id"))


def test_the_to_and_cc_headers_show_a_labels(smtp_sink, account, template, sender):  # noqa: F811
    messages = one_send(account, template, to=[("a@example.org", UNICODE), ("bob@example.org", "bob@example.org")],
                        cc=[("c@example.org", "carl@müller.example")])

    deliver_messages([m.pk for m in messages])

    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == sorted(
        [A_LABEL, "bob@example.org", "carl@xn--mller-kva.example"])
    for received in smtp_sink.received:
        assert received.message["To"] == f"{A_LABEL}, bob@example.org"
        assert received.message["Cc"] == "carl@xn--mller-kva.example"
    assert left_waiting() == []


def test_a_co_recipient_with_no_ascii_form_is_left_out_of_the_headers(smtp_sink, account, template, sender):  # noqa: F811
    messages = one_send(account, template, to=[("a@example.org", NO_ASCII_FORM), ("bob@example.org", "bob@example.org")],
                        cc=[("c@example.org", "carl@☃.example")])

    deliver_messages([m.pk for m in messages])

    [received] = smtp_sink.received  # Bob's copy; the other two are refused
    assert received.rcpt_tos == ("bob@example.org",)
    assert received.message["To"] == "bob@example.org"
    assert received.message["Cc"] is None
    outcomes = dict(Message.objects.values_list("recipient", "outcome"))
    assert outcomes == {NO_ASCII_FORM: "invalid", "bob@example.org": "delivered", "carl@☃.example": "invalid"}
    assert left_waiting() == []
