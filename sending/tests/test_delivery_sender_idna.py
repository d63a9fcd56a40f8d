"""The sender side of rows stored before A-labels: MAIL FROM, From and Reply-To are ASCII.

A message's from_email with a Unicode domain goes out as its IDNA A-label (MAIL FROM and the From
header, with or without a display name). A From or Reply-To with no ASCII form can never be sent
without SMTPUTF8: that message alone is refused as a bounce (5.1.7, the sender's fault; the
recipient is not blacklisted), and the rest of its group goes on.
"""

from __future__ import annotations

import pytest

from sending.delivery import deliver_messages
from sending.models import Message, Suppression
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


@pytest.mark.parametrize("field", ["from_email", "reply_to"])
def test_a_sender_address_with_no_ascii_form_bounces_that_message_alone(smtp_sink, account, template, sender, field):  # noqa: F811
    first = older(send_one(account, template, "ann@example.org"), **{field: "news@☃.example"})
    second = send_one(account, template, "bob@example.org")

    report = deliver_messages([first.pk, second.pk])

    assert report.outcomes == {"bounced": 1, "delivered": 1}
    assert [r.rcpt_tos for r in smtp_sink.received] == [("bob@example.org",)]
    first.refresh_from_db()
    assert (first.status, first.outcome, first.attempts) == (Message.BOUNCED, "bounced", 1)
    assert "5.1.7" in first.smtp_reply and "☃" in first.smtp_reply
    assert not Suppression.objects.filter(email="ann@example.org").exists()
    assert left_waiting() == []
