"""Delivery over real SMTP to an aiosmtpd relay that answers per recipient (SPEC §4.3)."""

from __future__ import annotations

import datetime as dt

import dkim
import pytest
import time_machine
from django.utils import timezone

from domains.models import DomainDay
from domains.services import records_for
from sending import services
from sending.delivery import deliver_messages
from sending.models import Message, MessageEvent, Suppression
from sending.tests.send_fixtures import SENDER, sender, template  # noqa: F401  (fixtures)
from tests.smtpsink import MAILBOX_FULL, SPAM, USER_UNKNOWN, closed_port


def send(account, template, *to, **options) -> list[Message]:  # noqa: F811
    result = services.send_email(
        account, from_address=SENDER, destinations=list(to), template_id=template.pk,
        template_data={"name": "Ann", "code": "4711"}, **options,
    )
    return list(Message.objects.filter(message_id__in=result.message_ids).order_by("id"))


def deliver(messages) -> None:
    deliver_messages([m.pk for m in messages])


def reload(message: Message) -> Message:
    message.refresh_from_db()
    return message


def day_row(domain) -> DomainDay:
    return DomainDay.objects.get(domain=domain)


def dns_txt(domain):
    published = {r.host: r.value for r in records_for(domain)}

    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        value = published.get(name.rstrip("."))
        return value.encode() if value else None

    return lookup


@pytest.fixture
def sent_from(sender, template, account):  # noqa: F811
    return lambda *to, **options: send(account, template, *to, **options)


def test_it_hands_a_message_to_the_relay_with_the_headers_receivers_need(smtp_sink, sent_from, verified_domain):
    [message] = sent_from("ann@example.org", unsubscribe=2)

    deliver([message])

    [received] = smtp_sink.to("ann@example.org")
    mail = received.message
    assert received.mail_from == SENDER
    assert mail["From"] == f"Alice News <{SENDER}>"
    assert mail["To"] == "ann@example.org"
    assert mail["Subject"] == "Welcome, Ann"
    assert mail["Message-ID"] == f"<{message.message_id}@{verified_domain.name}>"
    assert mail["X-SES-Message-Id"] == message.message_id
    assert mail["Date"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [part.strip(" <>") for part in mail["List-Unsubscribe"].split(",")]
    assert https.startswith("http") and "/t/u/" in https
    assert mailto.startswith("mailto:")
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert "Hello Ann, your code is 4711." in html and "Hello Ann, your code is 4711." in text
    assert "Unsubscribe" in text and https in text
    assert reload(message).status == Message.DELIVERED
    assert message.smtp_code == 250


def test_the_signature_verifies_with_the_published_dkim_key(smtp_sink, sent_from, verified_domain):
    [message] = sent_from("ann@example.org", bulk=True)

    deliver([message])

    [received] = smtp_sink.received
    assert received.raw.startswith(b"DKIM-Signature:")
    signature = received.message["DKIM-Signature"]
    assert f"d={verified_domain.name}" in signature and f"s={verified_domain.dkim_selector}" in signature
    assert "list-unsubscribe" in signature.lower()
    assert dkim.verify(received.raw, dnsfunc=dns_txt(verified_domain))


def test_a_changed_message_no_longer_verifies(smtp_sink, sent_from, verified_domain):
    [message] = sent_from("ann@example.org")
    deliver([message])

    tampered = smtp_sink.received[0].raw.replace(b"Welcome, Ann", b"Welcome, Bob")

    assert not dkim.verify(tampered, dnsfunc=dns_txt(verified_domain))


def test_a_transactional_send_without_unsubscribe_has_no_list_unsubscribe(smtp_sink, sent_from):
    [message] = sent_from("ann@example.org")

    deliver([message])

    mail = smtp_sink.received[0].message
    assert mail["List-Unsubscribe"] is None and mail["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(
    "option, words",
    [(1, "退订"), (2, "Unsubscribe"), (3, "取消訂閱"), (4, "Darse de baja"), (5, "Se désabonner"),
     (6, "Abmelden"), (7, "配信停止")],
)
def test_the_unsubscribe_footer_speaks_the_chosen_language(smtp_sink, sent_from, option, words):
    [message] = sent_from("ann@example.org", unsubscribe=option)

    deliver([message])

    mail = smtp_sink.received[0].message
    assert words in mail.get_body(("plain",)).get_content()
    assert words in mail.get_body(("html",)).get_content()


def test_one_connection_carries_a_whole_batch(smtp_sink, sent_from):
    messages = sent_from("a@example.org", "b@example.org", "c@example.org", "d@example.org")

    deliver(messages)

    assert smtp_sink.connections == 1
    assert len(smtp_sink.received) == 4
    assert {r.session for r in smtp_sink.received} == {1}
    assert Message.objects.filter(status=Message.DELIVERED).count() == 4


def test_every_copy_shows_to_and_cc_but_never_bcc(smtp_sink, sent_from):
    messages = sent_from("a@example.org", cc=["c@example.org"], bcc=["hidden@example.org"])

    deliver(messages)

    assert len(smtp_sink.received) == 3
    for received in smtp_sink.received:
        assert received.message["To"] == "a@example.org"
        assert received.message["Cc"] == "c@example.org"
        assert b"hidden@example.org" not in received.raw.split(b"\r\n\r\n", 1)[0]
    assert smtp_sink.to("hidden@example.org")


def test_each_recipient_gets_the_outcome_its_server_replied(smtp_sink, sent_from, verified_domain, account):
    smtp_sink.reply("nobody", USER_UNKNOWN)
    smtp_sink.reply("filtered", SPAM, after_data=True)
    smtp_sink.reply("rejected@example.org", "554 5.0.0 Transaction failed")
    messages = sent_from("ok@example.org", "nobody@example.org", "filtered@example.org", "rejected@example.org")

    deliver(messages)

    ok, nobody, filtered, rejected = (reload(m) for m in messages)
    assert (ok.status, ok.outcome) == (Message.DELIVERED, "delivered")
    assert (nobody.status, nobody.outcome, nobody.smtp_code) == (Message.BOUNCED, "invalid", 550)
    assert (filtered.status, filtered.outcome) == (Message.BOUNCED, "spam")
    assert (rejected.status, rejected.outcome) == (Message.BOUNCED, "bounced")
    row = day_row(verified_domain)
    assert (row.sent, row.delivered, row.invalid, row.spam, row.bounced) == (4, 1, 1, 1, 1)
    assert list(Suppression.objects.filter(account=account).values_list("email", "reason")) == [
        ("nobody@example.org", Suppression.BLACKLIST)
    ]
    assert [r.rcpt_tos for r in smtp_sink.received] == [("ok@example.org",)]
    assert smtp_sink.connections == 1  # a refused recipient does not cost the batch its connection


def test_a_full_mailbox_is_retried_with_backoff_then_bounced(smtp_sink, sent_from, verified_domain, settings):
    settings.SES_RETRY_DELAYS = [60, 300]
    smtp_sink.reply("full", MAILBOX_FULL)
    [message] = sent_from("full@example.org")
    start = timezone.now()

    with time_machine.travel(start, tick=False) as clock:
        deliver([message])
        assert reload(message).status == Message.DEFERRED
        assert message.attempts == 1
        assert message.next_attempt_at == start + dt.timedelta(seconds=60)
        assert message.smtp_started_at is None

        deliver([message])  # not due yet: nothing happens
        assert reload(message).attempts == 1

        clock.shift(dt.timedelta(seconds=61))
        deliver([message])
        assert reload(message).status == Message.DEFERRED
        assert message.next_attempt_at == timezone.now() + dt.timedelta(seconds=300)

        clock.shift(dt.timedelta(seconds=301))
        deliver([message])

    assert (reload(message).status, message.outcome, message.attempts) == (Message.BOUNCED, "bounced", 3)
    kinds = list(message.events.values_list("kind", flat=True))
    assert kinds == ["queued", "deferred", "deferred", "bounced"]
    row = day_row(verified_domain)
    assert (row.sent, row.delivered, row.bounced, row.invalid) == (1, 0, 1, 0)
    assert smtp_sink.received == []


def test_a_mailbox_that_frees_up_is_delivered_on_retry(smtp_sink, sent_from, verified_domain):
    smtp_sink.reply("full", MAILBOX_FULL)
    [message] = sent_from("full@example.org")
    deliver([message])
    assert reload(message).status == Message.DEFERRED

    smtp_sink.rcpt_replies.clear()
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    deliver([message])

    assert reload(message).status == Message.DELIVERED
    assert (day_row(verified_domain).delivered, day_row(verified_domain).bounced) == (1, 0)
    assert len(smtp_sink.received) == 1


def test_a_relay_that_is_down_defers_the_batch_and_delivers_when_it_returns(
    smtp_sink, sent_from, verified_domain, settings
):
    messages = sent_from("a@example.org", "b@example.org", "c@example.org")
    settings.EMAIL_PORT = closed_port()

    deliver(messages)

    assert [reload(m).status for m in messages] == [Message.DEFERRED] * 3
    assert all(m.attempts == 0 and m.smtp_started_at is None for m in messages)  # not the sender's fault
    assert all(m.events.filter(kind="deferred").exists() for m in messages)
    row = day_row(verified_domain)
    assert (row.delivered, row.bounced) == (0, 0)

    settings.EMAIL_PORT = smtp_sink.port
    Message.objects.update(next_attempt_at=timezone.now())
    deliver(messages)
    deliver(messages)  # a duplicate task changes nothing

    assert [reload(m).status for m in messages] == [Message.DELIVERED] * 3
    assert len(smtp_sink.received) == 3
    row = day_row(verified_domain)
    assert (row.sent, row.delivered, row.bounced) == (3, 3, 0)


def test_nothing_is_sent_or_counted_twice_when_a_task_runs_twice(smtp_sink, sent_from, verified_domain):
    messages = sent_from("a@example.org", "b@example.org")

    deliver(messages)
    deliver(messages)

    assert len(smtp_sink.received) == 2
    row = day_row(verified_domain)
    assert (row.sent, row.delivered) == (2, 2)
    assert MessageEvent.objects.filter(kind="delivered").count() == 2


def test_a_message_claimed_by_another_worker_is_left_to_it(smtp_sink, sent_from):
    [message] = sent_from("a@example.org")
    Message.objects.filter(pk=message.pk).update(status=Message.SENDING, claimed_at=timezone.now())

    deliver([message])

    assert smtp_sink.received == []
    assert reload(message).status == Message.SENDING


def test_messages_of_a_frozen_account_are_dropped_not_sent(smtp_sink, sent_from, account, verified_domain):
    from accounts.models import AccountFreeze

    [message] = sent_from("a@example.org")
    AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F1", metrics={})

    deliver([message])

    assert smtp_sink.received == []
    assert (reload(message).status, message.outcome) == (Message.DROPPED, "account frozen")
    assert day_row(verified_domain).delivered == 0
