"""Reading bounce (RFC 3464) and complaint (RFC 5965) reports from raw messages. Pure: no database."""

import random
from pathlib import Path

import pytest

from sending.inbound.reports import (
    COMPLAINT,
    DEFERRED,
    DELIVERY_STATUS,
    FEEDBACK_REPORT,
    IGNORED,
    InboundError,
    parse_report,
)
from sending.outcomes import BOUNCED, DELIVERED, INVALID, SPAM

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def dsn(recipient_blocks: str, original: str | None = None, report_type: str = "delivery-status") -> bytes:
    """A minimal DSN around the given per-recipient blocks."""
    original_part = f"--B\nContent-Type: text/rfc822-headers\n\n{original}\n" if original is not None else ""
    return (
        "From: MAILER-DAEMON@relay.example.net\n"
        "To: bounce@mail.example.com\n"
        "Message-ID: <report-1@relay.example.net>\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; relay.example.net\n\n"
        f"{recipient_blocks}\n\n"
        f"{original_part}"
        "--B--\n"
    ).encode()


def arf(feedback_fields: str, original: str | None, original_type: str = "message/rfc822") -> bytes:
    original_part = f"--B\nContent-Type: {original_type}\n\n{original}\n" if original is not None else ""
    return (
        "From: fbl@isp.example\n"
        "To: fbl@mail.example.com\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nThis is an abuse report.\n\n"
        f"--B\nContent-Type: message/feedback-report\n\n{feedback_fields}\n\n"
        f"{original_part}"
        "--B--\n"
    ).encode()


ORIGINAL = (
    "From: Shop <news@mail.example.com>\n"
    "To: someone@example.org\n"
    "Subject: Hello\n"
    "Message-ID: <abc.123@mail.example.com>\n"
    "X-SES-Message-Id: 0000-ses-id\n"
)


# Delivery status notifications


def test_a_postfix_user_unknown_bounce_is_an_invalid_address():
    [finding] = parse_report(sample("postfix-dsn-5.1.1-user-unknown.eml"))

    assert finding.report_type == DELIVERY_STATUS
    assert finding.outcome == INVALID
    assert finding.counted
    assert finding.action == "failed"
    assert finding.status == "5.1.1"
    assert finding.recipient == "Nobody@example.org"  # Original-Recipient: the address we sent to
    assert finding.final_recipient == "nobody@example.org"
    assert finding.diagnostic == (
        "smtp; 550 5.1.1 <nobody@example.org>: Recipient address rejected: "
        "User unknown in local recipient table"
    )
    assert (finding.reply.code, finding.reply.enhanced, finding.reply.hard) == (550, "5.1.1", True)
    assert finding.message_id == "173192112500.1234.5678@mail.example.com"
    assert finding.ses_message_id == "6f1c2d3e-0000-4000-8000-00000000a001"
    assert finding.envelope_id == "6f1c2d3e-0000-4000-8000-00000000a001"
    assert finding.report_id == "20241118091207.4Vb2Qk1HxYz9sQ4@mx1.relay.example.net"


def test_a_spam_rejection_bounce_is_a_spam_bounce_and_finds_the_returned_message():
    [finding] = parse_report(sample("postfix-dsn-5.7.1-spam.eml"))

    assert finding.outcome == SPAM
    assert finding.status == "5.7.1"
    assert finding.recipient == "someone@gmail.com"
    assert finding.reply.code == 550
    assert "likely unsolicited mail" in finding.reply.text
    assert finding.message_id == "173202502800.77.99@mail.example.com"
    assert finding.ses_message_id == "6f1c2d3e-0000-4000-8000-00000000b002"
    assert finding.envelope_id is None


def test_a_delay_warning_is_deferred_and_not_counted():
    [finding] = parse_report(sample("postfix-dsn-4.4.1-delayed.eml"))

    assert finding.outcome == DEFERRED
    assert not finding.counted
    assert finding.action == "delayed"
    assert finding.status == "4.4.1"
    assert finding.reply.code is None  # an X-Postfix diagnostic is not an SMTP reply
    assert finding.reply.text.startswith("connect to mx.example.net")
    assert finding.ses_message_id == "6f1c2d3e-0000-4000-8000-00000000c003"


def test_a_relay_that_gave_up_after_temporary_failures_is_a_bounce():
    raw = dsn(
        "Final-Recipient: rfc822; full@example.org\nAction: failed\nStatus: 4.2.2\n"
        "Diagnostic-Code: smtp; 452 4.2.2 Mailbox full",
        ORIGINAL,
    )

    [finding] = parse_report(raw)

    assert (finding.outcome, finding.reply.hard, finding.reply.enhanced) == (BOUNCED, True, "4.2.2")


def test_a_vague_status_yields_to_the_specific_one_in_the_diagnostic():
    raw = dsn(
        "Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.0.0\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <x@example.org>... User unknown",
        ORIGINAL,
    )

    [finding] = parse_report(raw)

    assert finding.outcome == INVALID
    assert finding.status == "5.0.0"
    assert finding.reply.enhanced == "5.1.1"


def test_a_status_with_a_comment_is_read():
    raw = dsn("Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.4.4 (unable to route)")

    [finding] = parse_report(raw)

    assert (finding.status, finding.outcome) == ("5.4.4", BOUNCED)


def test_a_failed_recipient_without_status_or_diagnostic_is_a_plain_bounce():
    [finding] = parse_report(dsn("Final-Recipient: rfc822; x@example.org\nAction: failed"))

    assert (finding.outcome, finding.status, finding.reply.hard) == (BOUNCED, None, True)


def test_a_success_notification_only_confirms_delivery():
    raw = dsn("Final-Recipient: rfc822; x@example.org\nAction: relayed\nStatus: 2.0.0", ORIGINAL)

    [finding] = parse_report(raw)

    assert finding.outcome == DELIVERED
    assert not finding.counted


def test_a_report_about_several_recipients_gives_one_finding_each():
    raw = dsn(
        "Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        "Final-Recipient: rfc822; later@example.org\nAction: delayed\nStatus: 4.4.7\n\n"
        "Final-Recipient: rfc822; spam@example.org\nAction: failed\nStatus: 5.7.1",
        ORIGINAL,
    )

    findings = parse_report(raw)

    assert [(f.recipient, f.outcome) for f in findings] == [
        ("gone@example.org", INVALID),
        ("later@example.org", DEFERRED),
        ("spam@example.org", SPAM),
    ]
    assert {f.ses_message_id for f in findings} == {"0000-ses-id"}


def test_a_dsn_without_the_returned_message_still_names_the_recipient():
    [finding] = parse_report(dsn("Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.1.1"))

    assert (finding.recipient, finding.message_id, finding.ses_message_id) == ("x@example.org", None, None)


def test_a_report_without_its_report_type_parameter_is_recognised_by_its_parts():
    raw = dsn("Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.1.1", ORIGINAL).replace(
        b"report-type=delivery-status; ", b""
    )

    [finding] = parse_report(raw)

    assert finding.outcome == INVALID


def test_it_accepts_the_report_as_text_and_with_crlf_line_endings():
    text = sample("postfix-dsn-5.1.1-user-unknown.eml").decode()

    assert parse_report(text)[0].outcome == INVALID
    assert parse_report(text.replace("\n", "\r\n").encode())[0].outcome == INVALID


# Feedback reports


def test_a_yahoo_abuse_report_is_a_complaint_about_our_message():
    [finding] = parse_report(sample("yahoo-arf-abuse.eml"))

    assert finding.report_type == FEEDBACK_REPORT
    assert finding.outcome == COMPLAINT
    assert finding.counted
    assert finding.feedback_type == "abuse"
    assert finding.recipient == "complainer@yahoo.com"
    assert finding.message_id == "173217661000.55.66@mail.example.com"
    assert finding.ses_message_id == "6f1c2d3e-0000-4000-8000-00000000d004"
    assert finding.report_id == "1732176899.1234@arf.mail.yahoo.com"


@pytest.mark.parametrize("feedback_type", ["abuse", "fraud", "virus", "other", "Abuse"])
def test_every_complaint_feedback_type_is_a_complaint(feedback_type):
    raw = arf(
        f"Feedback-Type: {feedback_type}\nVersion: 1\nOriginal-Rcpt-To: <someone@example.org>", ORIGINAL
    )

    [finding] = parse_report(raw)

    assert (finding.outcome, finding.feedback_type) == (COMPLAINT, feedback_type.lower())


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure"])
def test_reports_that_are_not_complaints_are_ignored(feedback_type):
    [finding] = parse_report(arf(f"Feedback-Type: {feedback_type}\nVersion: 1", ORIGINAL))

    assert finding.outcome == IGNORED
    assert not finding.counted


def test_without_original_rcpt_to_the_complainer_is_the_original_to():
    raw = arf("Feedback-Type: abuse\nVersion: 1", ORIGINAL, original_type="text/rfc822-headers")

    [finding] = parse_report(raw)

    assert finding.recipient == "someone@example.org"
    assert finding.ses_message_id == "0000-ses-id"


def test_a_redacted_complainer_leaves_the_recipient_unknown_but_keeps_our_id():
    original = ORIGINAL.replace("To: someone@example.org", "To: redacted")

    [finding] = parse_report(arf("Feedback-Type: abuse\nVersion: 1", original))

    assert finding.recipient is None
    assert finding.ses_message_id == "0000-ses-id"


def test_an_abuse_report_without_the_original_message_is_refused():
    with pytest.raises(InboundError, match="does not include the original message"):
        parse_report(arf("Feedback-Type: abuse\nVersion: 1", None))


def test_an_abuse_report_without_a_feedback_type_is_refused():
    with pytest.raises(InboundError, match="no Feedback-Type"):
        parse_report(arf("Version: 1\nUser-Agent: x", ORIGINAL))


# Bad input


def test_a_report_cut_off_before_its_status_part_is_refused():
    with pytest.raises(InboundError, match="no message/delivery-status part"):
        parse_report(sample("malformed-dsn-missing-status.eml"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"   \r\n\r\n", "empty"),
        (b"From: a@example.com\nTo: b@example.org\nSubject: hi\n\nJust a normal letter.\n", "text/plain"),
        (
            b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=X\n\n--X\nContent-Type: text/plain\n\nhi\n--X--\n",
            "multipart/mixed",
        ),
        (b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n", "no parts"),
        (
            b"Content-Type: multipart/report; report-type=disposition-notification; boundary=B\n\n"
            b"--B\nContent-Type: text/plain\n\nread\n--B--\n",
            "Unsupported report type 'disposition-notification'",
        ),
        (
            b"Content-Type: multipart/report; boundary=B\n\n--B\nContent-Type: text/plain\n\nhi\n--B--\n",
            "no report-type",
        ),
        (
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
            b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n--B--\n",
            "names no recipient",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "plain letter",
        "multipart/mixed",
        "no parts",
        "other report",
        "no type",
        "no recipient",
    ],
)
def test_input_that_is_not_a_readable_report_gives_a_clear_error(raw, message):
    with pytest.raises(InboundError, match=message):
        parse_report(raw)


def test_a_recipient_block_with_a_bad_action_is_refused():
    with pytest.raises(InboundError, match="Action field is 'exploded'"):
        parse_report(dsn("Final-Recipient: rfc822; x@example.org\nAction: exploded\nStatus: 5.1.1"))


def test_a_recipient_block_without_final_recipient_is_refused():
    with pytest.raises(InboundError, match="no Final-Recipient address"):
        parse_report(dsn("Action: failed\nStatus: 5.1.1"))


def test_something_that_is_not_a_message_is_refused():
    with pytest.raises(InboundError, match="as bytes"):
        parse_report(12345)


def test_an_oversized_message_is_refused():
    with pytest.raises(InboundError, match="larger than"):
        parse_report(b"x" * (10 * 1024 * 1024 + 1))


def _parses_or_refuses(raw: bytes) -> None:
    try:
        findings = parse_report(raw)
    except InboundError as exc:
        assert str(exc)
        return
    assert isinstance(findings, list) and findings


def test_random_bytes_never_escape_as_an_unexpected_exception():
    rng = random.Random(3464)
    for _ in range(300):
        _parses_or_refuses(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))))


def test_random_bytes_after_a_report_header_never_escape_as_an_unexpected_exception():
    rng = random.Random(5965)
    head = b'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n--B\n'
    for _ in range(300):
        _parses_or_refuses(head + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400))))


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.eml")))
def test_every_truncation_and_corruption_of_a_sample_parses_or_is_refused(name):
    raw = sample(name)
    for cut in range(0, len(raw), 17):
        _parses_or_refuses(raw[:cut])
    rng = random.Random(name)
    for _ in range(200):
        corrupted = bytearray(raw)
        for _ in range(rng.randrange(1, 20)):
            corrupted[rng.randrange(len(corrupted))] = rng.randrange(256)
        _parses_or_refuses(bytes(corrupted))
