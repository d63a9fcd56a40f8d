"""Reports and webhook events about a recipient with a non-ASCII domain find our message, which is
stored (and was sent) with the domain as its IDNA A-label: a DSN's `utf-8; ann@bücher.example`
(RFC 6533), its `rfc822; ANN@XN--BCHER-KVA.example`, a global DSN (message/global-delivery-status),
and a webhook event naming the recipient in Unicode. Through the machine endpoints."""

import base64
import quopri

import pytest

from sending.inbound.reports import parse_report
from sending.models import Message
from sending.tests.inbound_fixtures import counters, make_message, written
from sending.tests.test_ingest_http import _endpoints_on, post_events, post_report  # noqa: F401  (fixture)

A_LABEL = "ann@xn--bcher-kva.example"


def dsn(final: str, our_id: str, *, status_type: str = "message/delivery-status", encoding: str = "",
        original: str = "") -> bytes:
    fields = (
        "Reporting-MTA: dns; relay.example.net\n\n"
        + (f"Original-Recipient: {original}\n" if original else "")
        + f"Final-Recipient: {final}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 mailbox unavailable\n"
    ).encode()
    if encoding == "base64":
        fields = base64.encodebytes(fields)
    elif encoding == "quoted-printable":
        fields = quopri.encodestring(fields)
    report_type = "global-delivery-status" if status_type.endswith("global-delivery-status") else "delivery-status"
    headers_type = "message/global-headers" if report_type.startswith("global") else "text/rfc822-headers"
    return (
        "From: MAILER-DAEMON@relay.example.net\nTo: bounce@mail.alice.example\n"
        "Message-ID: <report-7@relay.example.net>\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nThe mail could not be delivered.\n\n"
        f"--B\nContent-Type: {status_type}\n"
        + (f"Content-Transfer-Encoding: {encoding}\n" if encoding else "") + "\n"
    ).encode() + fields + (
        f"\n--B\nContent-Type: {headers_type}\n\nX-SES-Message-Id: {our_id}\n\n"
        "--B--\n"
    ).encode()


def only_result(response) -> dict:
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    return result


@pytest.mark.parametrize("final", [
    "utf-8; ann@bücher.example",
    "UTF-8; Ann@BÜCHER.example",
    "utf-8; ann@b\\x{FC}cher.example",  # RFC 6533's escaped form in a message/delivery-status
    "rfc822; ANN@XN--BCHER-KVA.example",
    "rfc822; ann@xn--bcher-kva.example",
])
def test_a_dsn_naming_the_recipient_in_either_form_finds_the_message(client, verified_domain, final):
    message = make_message(verified_domain, A_LABEL)

    result = only_result(post_report(client, dsn(final, message.message_id)))

    assert (result["message_id"], result["outcome"], result["recorded"]) == (message.message_id, "invalid", True)
    message.refresh_from_db()
    assert message.status == Message.BOUNCED


def test_an_older_message_stored_in_unicode_is_found_by_its_a_label(client, verified_domain):
    message = make_message(verified_domain, "ann@bücher.example")  # written before A-labels
    result = only_result(post_report(client, dsn("rfc822; ann@xn--bcher-kva.example", message.message_id)))
    assert result["recorded"] is True


@pytest.mark.parametrize("final", ["utf-8; bob@bücher.example", "utf-8; ann@☃.example", "utf-8; ann@bücher.example.org"])
def test_a_dsn_about_someone_else_changes_nothing(client, verified_domain, final):
    message = make_message(verified_domain, A_LABEL)
    before = counters(verified_domain), written()

    result = only_result(post_report(client, dsn(final, message.message_id)))

    assert (result["message_id"], result["note"]) == (None, "no such message of ours")
    assert (counters(verified_domain), written()) == before


@pytest.mark.parametrize("encoding", ["", "8bit", "base64", "quoted-printable"])
def test_a_global_dsn_is_read_and_finds_the_message(client, verified_domain, encoding):
    message = make_message(verified_domain, A_LABEL)
    raw = dsn("utf-8; ann@bücher.example", message.message_id, status_type="message/global-delivery-status",
              encoding=encoding, original="utf-8; ann@bücher.example")

    result = only_result(post_report(client, raw))

    assert (result["message_id"], result["outcome"], result["recorded"]) == (message.message_id, "invalid", True)


def test_a_global_dsn_reads_every_recipient_block_and_its_per_message_fields():
    raw = dsn("utf-8; ann@bücher.example", "0" * 32, status_type="message/global-delivery-status")
    raw = raw.replace(b"Reporting-MTA: dns; relay.example.net\n",
                      "Reporting-MTA: dns; relais.bücher.example\nOriginal-Envelope-Id: env-1\n".encode())
    raw = raw.replace(b"\n--B\nContent-Type: message/global-headers",
                      "\nFinal-Recipient: utf-8; bo@bücher.example\nAction: delayed\nStatus: 4.2.2\n"
                      "\n--B\nContent-Type: message/global-headers".encode())
    findings = parse_report(raw)
    assert [(f.final_recipient, f.action, f.envelope_id, f.ses_message_id) for f in findings] == [
        ("ann@bücher.example", "failed", "env-1", "0" * 32),
        ("bo@bücher.example", "delayed", "env-1", "0" * 32),
    ]


@pytest.mark.parametrize("recipient", ["ann@bücher.example", "Ann@BÜCHER.example", "ANN@XN--BCHER-KVA.EXAMPLE"])
def test_a_webhook_event_naming_the_recipient_in_unicode_finds_the_message(client, verified_domain, recipient):
    message = make_message(verified_domain, A_LABEL, delivered=False)

    response = post_events(client, [{"message_id": message.message_id, "event": "bounce", "bounce_type": "hard",
                                     "recipient": recipient, "reply": "550 5.1.1 user unknown"}])

    result = only_result(response)
    assert (result["message_id"], result["recorded"]) == (message.message_id, True)


def test_a_webhook_event_about_someone_else_at_the_same_domain_changes_nothing(client, verified_domain):
    message = make_message(verified_domain, A_LABEL, delivered=False)
    before = counters(verified_domain), written()

    response = post_events(client, [{"message_id": message.message_id, "event": "delivered",
                                     "recipient": "bob@bücher.example"}])

    assert only_result(response)["note"] == "no such message of ours"
    assert (counters(verified_domain), written()) == before


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_global_headers_with_a_transfer_encoding_give_our_message_id(encoding):
    headers = "X-SES-Message-Id: {}\nSubject: Grüße\n".format("7" * 32).encode()
    encoded = base64.encodebytes(headers) if encoding == "base64" else quopri.encodestring(headers)
    raw = dsn("utf-8; ann@bücher.example", "0" * 32, status_type="message/global-delivery-status")
    plain = "\n--B\nContent-Type: message/global-headers\n\nX-SES-Message-Id: {}\n\n".format("0" * 32).encode()
    assert plain in raw
    raw = raw.replace(plain, b"\n--B\nContent-Type: message/global-headers\nContent-Transfer-Encoding: "
                      + encoding.encode() + b"\n\n" + encoded + b"\n")
    [finding] = parse_report(raw)
    assert finding.ses_message_id == "7" * 32
