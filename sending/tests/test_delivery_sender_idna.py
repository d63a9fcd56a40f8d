"""The sender side of rows stored before A-labels: MAIL FROM, From and Reply-To are ASCII.

A message's from_email with a Unicode domain goes out as its IDNA A-label (MAIL FROM and the From
header, with or without a display name). A From or Reply-To with no ASCII form can never be sent
without SMTPUTF8: that message alone is refused as a bounce (5.1.7, the sender's fault; the
recipient is not blacklisted), and the rest of its group goes on.
"""

from __future__ import annotations

import pytest

from core import crypto
from domains.models import SenderDomain
from sending.delivery import deliver_messages
from sending.models import Message, MessageEvent, Suppression
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_idna import left_waiting, send_one


def older(message: Message, **stored) -> Message:
    Message.objects.filter(pk=message.pk).update(**stored)
    message.refresh_from_db()
    return message


@pytest.mark.parametrize("from_name", ["", "Bücher News"])
def test_a_unicode_sender_domain_goes_out_as_its_a_label(smtp_sink, account, template, sender, from_name):  # noqa: F811
    first = older(send_one(account, template, "ann@example.org"), from_email="news@bücher.example",
                  from_name=from_name)
    second = send_one(account, template, "bob@example.org")

    report = deliver_messages([first.pk, second.pk])

    assert report.outcomes == {"delivered": 2}
    mail = smtp_sink.received[0]
    assert mail.mail_from == "news@xn--bcher-kva.example"
    assert "news@xn--bcher-kva.example" in mail.message["From"]
    assert left_waiting() == []


@pytest.mark.parametrize(("field", "value"), [
    ("from_email", "news@☃.example"), ("reply_to", "news@☃.example"), ("reply_to", "News <news@☃.example>"),
])
def test_a_sender_address_with_no_ascii_form_bounces_that_message_alone(smtp_sink, account, template, sender,  # noqa: F811
                                                                        field, value):
    first = older(send_one(account, template, "ann@example.org"), **{field: value})
    second = send_one(account, template, "bob@example.org")

    report = deliver_messages([first.pk, second.pk])

    assert report.outcomes == {"bounced": 1, "delivered": 1}
    assert [r.rcpt_tos for r in smtp_sink.received] == [("bob@example.org",)]
    first.refresh_from_db()
    assert (first.status, first.outcome, first.attempts) == (Message.BOUNCED, "bounced", 1)
    assert "5.1.7" in first.smtp_reply
    assert "Bad sender address: 'news@☃.example' has no ASCII form" in first.smtp_reply  # the address itself
    assert not Suppression.objects.filter(email="ann@example.org").exists()
    assert left_waiting() == []


@pytest.mark.parametrize("stored_key", [
    lambda: "not a Fernet token",  # another SES_ENCRYPTION_KEY, or a corrupt value: crypto.decrypt's ValueError
    lambda: crypto.encrypt("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"),  # a bad PEM
], ids=["undecryptable", "bad-pem"])
def test_a_dkim_key_that_cannot_be_read_is_no_bad_sender_address(smtp_sink, account, template, sender,  # noqa: F811
                                                                 stored_key):
    """Any ValueError but an address's with no ASCII form is unforeseen while building: it is raised, the
    message stays queued, unclaimed and unsent (no 5.1.7 bounce pinned on the sender's address)."""
    first = send_one(account, template, "ann@example.org")
    SenderDomain.objects.filter(pk=first.domain_id).update(dkim_private_key_encrypted=stored_key())
    events = list(MessageEvent.objects.filter(message=first).values_list("kind", flat=True))

    with pytest.raises(ValueError):
        deliver_messages([first.pk])

    first.refresh_from_db()
    assert (first.status, first.outcome, first.attempts, first.smtp_reply) == (Message.QUEUED, "", 0, "")
    assert list(MessageEvent.objects.filter(message=first).values_list("kind", flat=True)) == events  # no bounce
    assert smtp_sink.received == []
