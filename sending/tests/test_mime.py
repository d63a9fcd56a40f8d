"""The mail a message becomes, as a receiver parses it: encodings, folding and the DKIM signature.

The bytes are assembled by sending.mime and signed there with the `cryptography` RSA; every
signature here is checked by dkimpy's independent verifier against the published DNS record.
"""

from __future__ import annotations

import dkim
import pytest

from sending import services
from sending.delivery import deliver_messages
from sending.models import Message
from sending.tests.send_fixtures import SENDER, sender  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import dns_txt


def deliver_one(account, template, *to, data=None, **options):
    result = services.send_email(
        account, from_address=SENDER, destinations=list(to), template_id=template.pk,
        template_data=data or {}, **options,
    )
    deliver_messages(list(Message.objects.filter(message_id__in=result.message_ids).values_list("pk", flat=True)))


def make_template(account, subject, html="", text=""):
    return services.create_template(account, name="T", subject=subject, html=html, text=text, transactional=True)


def test_non_ascii_subject_names_and_body_reach_the_receiver_intact(smtp_sink, sender, account,  # noqa: F811
                                                                    verified_domain):
    template = make_template(
        account, "Grüße, {{name}} — 你好 {{name}}",
        html="<p>你好，{{name}}！欢迎使用我们的服务。这是一封很长的中文邮件，用于检查编码。</p>",
        text="你好，{{name}}！欢迎使用我们的服务。这是一封很长的中文邮件，用于检查编码。",
    )
    deliver_one(account, template, "ann@example.org", data={"name": "Zoë"}, reply_to="help@example.org")

    [received] = smtp_sink.received
    assert received.raw.isascii()
    assert all(len(line) <= 998 for line in received.raw.split(b"\r\n"))
    mail = received.message
    assert mail["Subject"] == "Grüße, Zoë — 你好 Zoë"
    assert "你好，Zoë！" in mail.get_body(("plain",)).get_content()
    assert "你好，Zoë！" in mail.get_body(("html",)).get_content()
    assert mail["From"].addresses[0].display_name == "Alice News"
    assert mail["Reply-To"] == "help@example.org"
    assert dkim.verify(received.raw, dnsfunc=dns_txt(verified_domain))


@pytest.mark.parametrize("text", [
    "plain ASCII, short lines\n.\nA line with only a dot, and trailing spaces   \n",
    "Zeile mit Umlauten: äöü ß, " + "lang " * 300,  # quoted-printable, a line far over 998
    "x" * 2000,  # ASCII but one line too long for 7bit
])
def test_text_only_bodies_of_any_shape_arrive_unchanged_and_signed(smtp_sink, sender, account,  # noqa: F811
                                                                   verified_domain, text):
    template = make_template(account, "Shapes", text=text)
    deliver_one(account, template, "ann@example.org")

    [received] = smtp_sink.received
    assert all(len(line) <= 998 for line in received.raw.split(b"\r\n"))
    body = received.message.get_body(("plain",)).get_content()
    assert body.replace("\r\n", "\n").startswith(text.rstrip("\n"))
    assert dkim.verify(received.raw, dnsfunc=dns_txt(verified_domain))


def test_a_send_to_many_folds_the_to_header_and_every_copy_verifies(smtp_sink, sender, account,  # noqa: F811
                                                                    verified_domain):
    template = make_template(account, "Hello", html="<p>Hello</p>", text="Hello")
    to = [f"someone.with.a.long.name.{i}@example.org" for i in range(30)]
    deliver_one(account, template, *to)

    assert len(smtp_sink.received) == 30
    for received in smtp_sink.received:
        assert all(len(line) <= 998 for line in received.raw.split(b"\r\n"))
        assert [a.strip() for a in str(received.message["To"]).split(",")] == to
        assert dkim.verify(received.raw, dnsfunc=dns_txt(verified_domain))


def test_a_changed_body_or_subject_breaks_the_signature(smtp_sink, sender, account, verified_domain):  # noqa: F811
    template = make_template(account, "Your code", text="Your code is 4711.")
    deliver_one(account, template, "ann@example.org")

    raw = smtp_sink.received[0].raw
    assert dkim.verify(raw, dnsfunc=dns_txt(verified_domain))
    assert not dkim.verify(raw.replace(b"4711", b"4712"), dnsfunc=dns_txt(verified_domain))
    assert not dkim.verify(raw.replace(b"Subject: Your code", b"Subject: Your cash"), dnsfunc=dns_txt(verified_domain))
