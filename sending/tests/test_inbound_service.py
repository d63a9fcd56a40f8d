"""Applying DSN and ARF reports to our messages: late bounces, complaints, duplicates, strangers."""

from pathlib import Path

import pytest

from sending.inbound.reports import InboundError
from sending.inbound.services import apply_report
from sending.models import Message, Suppression
from sending.tests.inbound_fixtures import counters, make_message, written

SAMPLES = Path(__file__).parent / "samples"
# The X-SES-Message-Id of the samples, as relays hand it back (dashed); ours is the hex form.
SAMPLE_DSN_ID = "6f1c2d3e00004000800000000000a001"
SAMPLE_ARF_ID = "6f1c2d3e00004000800000000000d004"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def dsn(recipient: str, *, status: str = "5.1.1", action: str = "failed", original_headers: str) -> bytes:
    return (
        "From: MAILER-DAEMON@relay.example.net\n"
        "To: bounce@mail.alice.example\n"
        "Message-ID: <report-7@relay.example.net>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; relay.example.net\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; 550 {status} mailbox unavailable\n\n"
        f"--B\nContent-Type: text/rfc822-headers\n\n{original_headers}\n"
        "--B--\n"
    ).encode()


@pytest.fixture
def bounced_message(verified_domain):
    return make_message(verified_domain, "nobody@example.org", message_id=SAMPLE_DSN_ID)


def test_an_invalid_address_bounce_of_a_delivered_message_is_a_late_bounce(bounced_message, verified_domain):
    assert counters(verified_domain)["delivered"] == 1

    results = apply_report(sample("postfix-dsn-5.1.1-user-unknown.eml"))

    assert [(r.outcome, r.message_id, r.recorded) for r in results] == [("invalid", SAMPLE_DSN_ID, True)]
    bounced_message.refresh_from_db()
    assert bounced_message.status == Message.BOUNCED
    assert bounced_message.outcome == "invalid"
    assert counters(verified_domain)["delivered"] == 0
    assert counters(verified_domain)["invalid"] == 1
    assert Suppression.objects.filter(account=verified_domain.account, email="nobody@example.org").exists()
    event = bounced_message.events.get(kind="invalid")
    assert event.detail["source"] == "dsn"
    assert "5.1.1" in event.detail["reply"]


def test_the_same_report_fed_twice_is_counted_once(bounced_message, verified_domain):
    apply_report(sample("postfix-dsn-5.1.1-user-unknown.eml"))
    before = counters(verified_domain), written()

    results = apply_report(sample("postfix-dsn-5.1.1-user-unknown.eml"))

    assert [(r.recorded, r.note) for r in results] == [(False, "already recorded")]
    assert (counters(verified_domain), written()) == before


def test_a_report_about_a_message_we_never_sent_writes_nothing(verified_domain):
    make_message(verified_domain, "nobody@example.org")  # a different MessageId
    before = counters(verified_domain), written()

    results = apply_report(sample("postfix-dsn-5.1.1-user-unknown.eml"))

    assert [(r.message_id, r.recorded, r.note) for r in results] == [(None, False, "no such message of ours")]
    assert (counters(verified_domain), written()) == before


def test_a_report_naming_another_recipient_than_our_message_is_not_applied(verified_domain):
    message = make_message(verified_domain, "somebody-else@example.org", message_id=SAMPLE_DSN_ID)

    results = apply_report(sample("postfix-dsn-5.1.1-user-unknown.eml"))

    assert results[0].recorded is False
    message.refresh_from_db()
    assert message.status == Message.DELIVERED


def test_a_report_without_our_header_finds_the_message_by_its_message_id(verified_domain):
    message = make_message(verified_domain, "full@example.org")
    headers = f"From: news@mail.alice.example\nTo: full@example.org\nMessage-ID: <{message.message_id}@mail.alice.example>\n"

    results = apply_report(dsn("full@example.org", status="5.2.2", original_headers=headers))

    assert [(r.outcome, r.message_id, r.recorded) for r in results] == [("bounced", message.message_id, True)]
    message.refresh_from_db()
    assert message.status == Message.BOUNCED


def test_a_message_id_of_another_host_does_not_match_our_message(verified_domain):
    message = make_message(verified_domain, "full@example.org")
    headers = f"Message-ID: <{message.message_id}@elsewhere.example>\n"

    results = apply_report(dsn("full@example.org", original_headers=headers))

    assert results[0].recorded is False
    message.refresh_from_db()
    assert message.status == Message.DELIVERED


def test_a_complaint_report_counts_a_complaint(verified_domain):
    message = make_message(verified_domain, "complainer@yahoo.com", message_id=SAMPLE_ARF_ID)

    results = apply_report(sample("yahoo-arf-abuse.eml"))

    assert [(r.outcome, r.recorded) for r in results] == [("complaint", True)]
    message.refresh_from_db()
    assert message.complained_at is not None
    assert message.status == Message.DELIVERED  # a complaint is about delivered mail
    assert counters(verified_domain)["complaints"] == 1


def test_a_delay_notice_is_reported_but_counts_nothing(verified_domain):
    message = make_message(verified_domain, "slow@example.org", delivered=False)
    headers = f"Message-ID: <{message.message_id}@mail.alice.example>\n"
    before = counters(verified_domain), written()

    results = apply_report(dsn("slow@example.org", status="4.4.1", action="delayed", original_headers=headers))

    assert [(r.outcome, r.recorded, r.note) for r in results] == [("deferred", False, "not counted")]
    assert (counters(verified_domain), written()) == before


def test_a_malformed_report_is_refused_and_writes_nothing(bounced_message, verified_domain):
    before = counters(verified_domain), written()

    with pytest.raises(InboundError, match="no message/delivery-status part"):
        apply_report(sample("malformed-dsn-missing-status.eml"))
    with pytest.raises(InboundError, match="not multipart/report"):
        apply_report(b"From: someone@example.org\nSubject: hello\n\nJust a letter.\n")

    assert (counters(verified_domain), written()) == before
