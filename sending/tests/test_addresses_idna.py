"""Internationalised recipient addresses (no SMTPUTF8): a non-ASCII domain travels as its IDNA
A-label on the envelope and in the headers; a non-ASCII local part is refused at admission with the
usual address error; nothing is ever written as an RFC 2047 encoded word inside an address."""

from __future__ import annotations

import json

import dkim
import pytest

from accounts.models import ApiKey
from api.tests.conftest import Caller
from api.tests.signing import error_code
from core import addresses
from domains.reputation.services import mailbox_type_of
from sending import services
from sending.delivery import deliver_messages
from sending.mime import build_message
from sending.models import Message
from sending.tests.send_fixtures import SENDER, sender, template, written  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import dns_txt

BUECHER = "xn--bcher-kva.example"


@pytest.mark.parametrize(("raw", "expected"), [
    ("ann@example.org", "ann@example.org"),
    ("ann@bücher.example", f"ann@{BUECHER}"),
    ("ann@mail.bücher.example", f"ann@mail.{BUECHER}"),
    ("ann@bücher。example", f"ann@{BUECHER}"),  # the ideographic full stop separates labels too
    ("ann@straße.de", "ann@xn--strae-oqa.de"),  # IDNA 2008: ß is kept, not mapped to "ss"
    (f"ann@{BUECHER}", f"ann@{BUECHER}"),
])
def test_a_domain_becomes_its_a_label(raw, expected):
    assert addresses.to_ascii(raw) == expected


@pytest.mark.parametrize("raw", [
    "jörg@example.org",  # non-ASCII local part: needs SMTPUTF8, which is not offered
    "ann@☃.example",  # IDNA 2008 refuses symbols
    "ann@bü_cher.example",
    "ann@-bücher.example",
    "ann@bücher..example",
    f"ann@{'a' * 64}ü.example",  # a label longer than 63 octets
    "no-at-sign-ü",
])
def test_an_address_without_an_ascii_form_is_refused(raw):
    with pytest.raises(addresses.NotAsciiAddress):
        addresses.to_ascii(raw)


def test_clean_address_returns_the_a_label_lower_cased():
    assert services.clean_address("  Ann@BÜCHER.example ") == f"ann@{BUECHER}"
    assert mailbox_type_of(services.clean_address("ann@bücher.example")) == BUECHER


# 222 characters as typed, 282 as A-labels: past RFC 5321's 254 once it is in the form that is sent.
LONG_AS_A_LABELS = f"{'a' * 64}@{'.'.join(['äöüéèêëàáâãåæçìíîïñòóôõøùúûýÿ'] * 5)}.example"


@pytest.mark.parametrize("raw", ["jörg@example.org", "ann@☃.example", "ann@bücher..example", LONG_AS_A_LABELS])
def test_clean_address_refuses_with_the_address_error(raw):
    assert len(raw) <= 254
    with pytest.raises(services.SendError) as refused:
        services.clean_address(raw)
    assert refused.value.code == "InvalidParameterValue.IllegalEmailAddress"
    assert "is not a valid email address" in refused.value.message


def test_a_send_to_a_non_ascii_domain_uses_the_a_label_for_rcpt_to_and_the_to_header(
    smtp_sink, sender, template, account, verified_domain,  # noqa: F811
):
    result = services.send_email(
        account, from_address=SENDER, destinations=["Ann@Bücher.example"], cc=["bob@mail.bücher.example"],
        template_id=template.pk, template_data={"name": "Ann", "code": "1"},
    )
    messages = Message.objects.filter(message_id__in=result.message_ids).order_by("id")
    assert [m.recipient for m in messages] == [f"ann@{BUECHER}", f"bob@mail.{BUECHER}"]
    deliver_messages([m.pk for m in messages])

    assert sorted(r.rcpt_tos for r in smtp_sink.received) == [(f"ann@{BUECHER}",), (f"bob@mail.{BUECHER}",)]
    for received in smtp_sink.received:
        assert received.raw.isascii()
        head = received.raw.split(b"\r\n\r\n", 1)[0]
        assert b"=?" not in head.split(b"\r\nSubject:")[0].split(b"\r\nTo:", 1)[1]
        assert received.message["To"] == f"ann@{BUECHER}"
        assert received.message["Cc"] == f"bob@mail.{BUECHER}"
        assert dkim.verify(received.raw, dnsfunc=dns_txt(verified_domain))


def test_a_non_ascii_local_part_refuses_the_whole_send_and_writes_nothing(sender, template, account, verified_domain):  # noqa: F811
    before = written(verified_domain)
    with pytest.raises(services.SendError) as refused:
        services.send_email(
            account, from_address=SENDER, destinations=["ann@example.org", "jörg@example.org"],
            template_id=template.pk, template_data={"name": "Ann", "code": "1"},
        )
    assert refused.value.code == "InvalidParameterValue.ReceiverEmailInvalid"
    assert "jörg@example.org" in refused.value.message
    assert written(verified_domain) == before


def test_a_stored_message_with_a_non_ascii_domain_is_written_with_its_a_label(sender, template, account, verified_domain):  # noqa: F811
    """Rows admitted before the A-label conversion keep their Unicode domain; the headers still never
    carry an encoded word in an address."""
    result = services.send_email(
        account, from_address=SENDER, destinations=["ann@example.org"], reply_to="help@example.org",
        template_id=template.pk, template_data={"name": "Ann", "code": "1"},
    )
    Message.objects.filter(message_id__in=result.message_ids).update(
        recipient="ann@bücher.example", reply_to="Hilfe Müller <help@bücher.example>",
    )
    message = Message.objects.get(message_id__in=result.message_ids)
    raw = build_message(message)
    assert raw.isascii()
    assert f"\r\nTo: ann@{BUECHER}\r\n".encode() in raw
    assert f"<help@{BUECHER}>\r\n".encode() in raw  # the display name encoded, the address not
    assert b"=?utf-8?" in raw.split(b"\r\nReply-To:", 1)[1].split(b"\r\n", 1)[0]


def test_the_api_refuses_a_non_ascii_local_part_and_accepts_a_non_ascii_domain(client, sender, template, account):  # noqa: F811
    key, secret = ApiKey.issue(account)
    api = Caller(client, key, secret)
    params = {
        "FromEmailAddress": f"Alice News <{SENDER}>",
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps({"name": "Ann", "code": "1"})},
        "Subject": "Hi",
    }
    refused = api("SendEmail", {**params, "Destination": ["jörg@example.org"]})
    assert error_code(refused) == "InvalidParameterValue.ReceiverEmailInvalid"
    refused = api("SendEmail", {**params, "Destination": ["ann@example.org"], "ReplyToAddresses": "jörg@example.org"})
    assert error_code(refused) == "InvalidParameterValue.IllegalEmailAddress"
    assert not Message.objects.exists()

    accepted = api("SendEmail", {**params, "Destination": ["ann@bücher.example"]})
    assert error_code(accepted) is None, accepted
    assert Message.objects.get().recipient == f"ann@{BUECHER}"


def test_the_console_test_send_shows_the_address_error_for_a_non_ascii_local_part(client, owner, sender, template):  # noqa: F811
    client.force_login(owner)
    data = {"from_address": SENDER, "template_data": '{"name": "Ann", "code": "1"}'}
    response = client.post(f"/templates/{template.pk}/send/", {**data, "recipients": "jörg@example.org"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "InvalidParameterValue.ReceiverEmailInvalid" in html and "is not a valid email address" in html
    assert not Message.objects.exists()

    response = client.post(f"/templates/{template.pk}/send/", {**data, "recipients": "ann@bücher.example"})
    assert response.status_code == 200
    assert Message.objects.get().recipient == f"ann@{BUECHER}"
