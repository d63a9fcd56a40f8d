"""Reply classification (SPEC §3.1, §4.3) on replies real receiving servers send. Pure: no database."""

import smtplib
import socket

import pytest

from sending.outcomes import (
    BOUNCED,
    DELIVERED,
    INVALID,
    RETRY,
    SPAM,
    bad_syntax,
    classify_exception,
    classify_reply,
    classify_status,
    connection_failed,
    find_enhanced,
    give_up,
    no_mail_host,
    nxdomain,
    parse_reply,
)

# (server, code, text as smtplib returns it, expected kind, expected enhanced status)
REPLIES = [
    # Gmail
    ("gmail accepted", 250, "2.0.0 OK  1700000000 d2si123456qkb.12 - gsmtp", DELIVERED, "2.0.0"),
    (
        "gmail no such user",
        550,
        "5.1.1 The email account that you tried to reach does not exist. Please try\n"
        "5.1.1 double-checking the recipient's email address for typos or\n"
        "5.1.1 unnecessary spaces. Learn more at\n"
        "5.1.1  https://support.google.com/mail/?p=NoSuchUser d2si123456qkb.12 - gsmtp",
        INVALID,
        "5.1.1",
    ),
    (
        "gmail likely unsolicited",
        550,
        "5.7.1 [203.0.113.5] Our system has detected that this message is likely\n"
        "5.7.1 unsolicited mail. To reduce the amount of spam sent to Gmail, this message\n"
        "5.7.1 has been blocked. https://support.google.com/mail/?p=UnsolicitedMessageError - gsmtp",
        SPAM,
        "5.7.1",
    ),
    (
        "gmail unauthenticated sender",
        550,
        "5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires "
        "all senders to authenticate with either SPF or DKIM.",
        SPAM,
        "5.7.26",
    ),
    (
        "gmail account disabled",
        550,
        "5.2.1 The email account that you tried to reach is disabled.",
        BOUNCED,
        "5.2.1",
    ),
    (
        "gmail over quota, permanent",
        552,
        "5.2.2 The email account that you tried to reach is over quota.",
        BOUNCED,
        "5.2.2",
    ),
    (
        "gmail over quota, temporary",
        452,
        "4.2.2 The email account that you tried to reach is over quota.",
        RETRY,
        "4.2.2",
    ),
    (
        "gmail rate of unsolicited mail (temporary wins over spam text)",
        421,
        "4.7.28 [203.0.113.5] Our system has detected an unusual rate of unsolicited mail "
        "originating from your IP address. To protect our users from spam, mail sent from your IP "
        "address has been temporarily rate limited.",
        RETRY,
        "4.7.28",
    ),
    (
        "gmail greylisting",
        450,
        "4.2.1 The user you are trying to contact is receiving mail too quickly.",
        RETRY,
        "4.2.1",
    ),
    # Outlook.com / Microsoft 365
    (
        "outlook.com missing mailbox answers 5.5.0",
        550,
        "5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
        "[AM0PR01MB1234.eurprd01.prod.exchangelabs.com]",
        INVALID,
        "5.5.0",
    ),
    (
        "microsoft 365 recipient not found",
        550,
        "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        INVALID,
        "5.1.10",
    ),
    (
        "outlook block list",
        550,
        "5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your Internet "
        "service provider since part of their network is on our block list (S3150).",
        SPAM,
        "5.7.1",
    ),
    (
        "outlook server busy",
        451,
        "4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77714)",
        RETRY,
        "4.7.500",
    ),
    (
        "outlook invalid MIME",
        554,
        "5.6.211 Invalid MIME Content: Single text value size (32766) exceeded allowed maximum",
        BOUNCED,
        "5.6.211",
    ),
    (
        "microsoft 365 directory-based edge blocking",
        550,
        "5.4.1 Recipient address rejected: Access denied. AS(201806281)",
        BOUNCED,
        "5.4.1",
    ),
    # QQ Mail and NetEase (no enhanced status codes)
    ("qq mailbox not found", 550, "Mailbox not found or access denied", INVALID, None),
    (
        "qq content denied",
        550,
        "Mail content denied. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000726",
        SPAM,
        None,
    ),
    (
        "qq ip frequency limited",
        550,
        "Ip frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000722",
        BOUNCED,
        None,
    ),
    ("qq try again later", 451, "Requested mail action aborted: local error in processing", RETRY, None),
    ("163 user not found", 550, "User not found: nobody@163.com", INVALID, None),
    (
        "163 judged as spam",
        554,
        "DT:SPM 163 smtp10,DsCowADnz1h3,0 1700000000, please see "
        "http://mail.163.com/help/help_spam_16.htm?ip=203.0.113.5",
        SPAM,
        None,
    ),
    # Yahoo
    (
        "yahoo no such account",
        554,
        "delivery error: dd This user doesn't have a yahoo.com account (nobody@yahoo.com) [0] - "
        "mta1234.mail.gq1.yahoo.com",
        INVALID,
        None,
    ),
    (
        "yahoo policy reasons",
        554,
        "5.7.9 Message not accepted for policy reasons.  See https://help.yahoo.com/kb/postmaster/SLN7253.html",
        SPAM,
        "5.7.9",
    ),
    (
        "yahoo deferred for complaints (a dotted number later in the text is not the status)",
        421,
        "4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or "
        "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        RETRY,
        "4.7.0",
    ),
    (
        "yahoo disabled mailbox",
        554,
        "30 Sorry, your message to someone@yahoo.com cannot be delivered. This mailbox is disabled (554.30).",
        BOUNCED,
        None,
    ),
    # Postfix and friends
    (
        "postfix user unknown",
        550,
        "5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table",
        INVALID,
        "5.1.1",
    ),
    (
        "postfix bad destination system",
        550,
        "5.1.2 <x@nowhere.example>: Recipient address rejected: Domain not found",
        INVALID,
        "5.1.2",
    ),
    (
        "postfix spamhaus",
        554,
        "5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org",
        SPAM,
        "5.7.1",
    ),
    ("unknown user under a vague status", 550, "5.0.0 <nobody@example.com>: User unknown", INVALID, "5.0.0"),
    ("generic refusal", 554, "5.0.0 Service unavailable", BOUNCED, "5.0.0"),
    ("message too big", 552, "5.3.4 Message size exceeds fixed limit", BOUNCED, "5.3.4"),
    ("listed at a DNSBL, no enhanced status", 550, "Rejected: listed at bl.spamcop.net", SPAM, None),
    ("an IP address is not an enhanced status", 550, "Rejected: 5.6.7.8 is blacklisted", SPAM, None),
    (
        "spam text outranks a vague status",
        550,
        "5.2.0 Message rejected as spam by Content Filtering.",
        SPAM,
        "5.2.0",
    ),
    ("mailbox full is not invalid", 552, "5.2.2 <x@example.com>: Mailbox full", BOUNCED, "5.2.2"),
    (
        "a 5.1.x status wins over spam text",
        550,
        "5.1.1 <x@example.com>: unknown user (blocked)",
        INVALID,
        "5.1.1",
    ),
    (
        "our sender's bad address is not an invalid recipient",
        553,
        "5.1.8 <bounce@mail.example.com>: Sender address rejected: Domain not found",
        BOUNCED,
        "5.1.8",
    ),
    ("a status whose class disagrees with the code is ignored", 550, "4.1.1 whatever", BOUNCED, None),
    ("nonsense reply code is retried", 354, "End data with <CR><LF>.<CR><LF>", RETRY, None),
    ("code out of range is retried", 999, "", RETRY, None),
]


@pytest.mark.parametrize(
    ("code", "text", "kind", "enhanced"),
    [case[1:] for case in REPLIES],
    ids=[case[0] for case in REPLIES],
)
def test_it_classifies_real_world_replies(code, text, kind, enhanced):
    outcome = classify_reply(code, text)

    assert outcome.kind == kind
    assert outcome.enhanced == enhanced
    assert outcome.code == code
    assert outcome.hard is (kind in (INVALID, SPAM, BOUNCED))
    assert outcome.final is (kind != RETRY)


def test_it_reads_a_whole_multiline_reply_with_its_code_prefixes():
    code, text = parse_reply(
        "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
        "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
        "550 5.1.1 unnecessary spaces. - gsmtp"
    )

    assert code == 550
    assert (
        text.splitlines()[0] == "5.1.1 The email account that you tried to reach does not exist. Please try"
    )
    assert classify_reply(code, text).kind == INVALID


def test_it_reads_a_reply_without_a_code_as_text_only():
    assert parse_reply("User unknown") == (None, "User unknown")
    assert parse_reply(b"") == (None, "")


def test_it_accepts_reply_text_as_bytes_from_smtplib():
    outcome = classify_reply(550, b"5.1.1 <nobody@example.com>: User unknown \xff")

    assert outcome.kind == INVALID
    assert outcome.text.startswith("5.1.1 <nobody@example.com>")


def test_an_enhanced_status_given_apart_wins_over_the_text():
    assert classify_reply(550, "Requested action not taken", enhanced="5.1.1").kind == INVALID
    assert classify_reply(550, "5.1.1 whatever", enhanced="5.7.1").kind == SPAM


def test_a_dsn_status_alone_is_enough_to_classify():
    assert classify_status("5.1.1").kind == INVALID
    assert classify_status("5.7.1").kind == SPAM
    assert classify_status("5.4.4").kind == BOUNCED
    assert classify_status("4.4.1").kind == RETRY
    assert classify_status("2.0.0").kind == DELIVERED
    assert classify_status("5.0.0", "smtp; 550 no such user here").kind == INVALID


def test_it_finds_the_enhanced_status_only_of_the_reply_class():
    assert find_enhanced("server 4.2.1 says 5.1.1 no", "5") == "5.1.1"
    assert find_enhanced("see 10.5.1.1 and 5.1.1.3") is None
    assert find_enhanced("5.1.1.") == "5.1.1"


def test_a_temporary_failure_whose_retries_ran_out_is_a_hard_bounce():
    outcome = give_up(classify_reply(452, "4.2.2 Mailbox full"))

    assert (outcome.kind, outcome.hard, outcome.code, outcome.enhanced) == (BOUNCED, True, 452, "4.2.2")


def test_giving_up_leaves_a_final_outcome_alone():
    invalid = classify_reply(550, "5.1.1 User unknown")

    assert give_up(invalid) is invalid


@pytest.mark.parametrize(
    ("outcome", "enhanced"),
    [
        (nxdomain("nowhere.example"), "5.1.2"),
        (no_mail_host("nomx.example"), "5.1.2"),
        (bad_syntax("a@@b"), "5.1.3"),
    ],
    ids=["nxdomain", "no mx", "syntax"],
)
def test_failures_before_any_reply_about_the_address_are_invalid(outcome, enhanced):
    assert (outcome.kind, outcome.hard, outcome.code, outcome.enhanced) == (INVALID, True, None, enhanced)


def test_a_failed_connection_is_retried():
    outcome = connection_failed("Connection refused")

    assert (outcome.kind, outcome.hard, outcome.final) == (RETRY, False, False)


def test_it_classifies_a_refused_recipient_from_smtplib():
    exc = smtplib.SMTPRecipientsRefused({"nobody@example.com": (550, b"5.1.1 User unknown")})

    assert classify_exception(exc).kind == INVALID
    assert classify_exception(exc, "nobody@example.com").code == 550


def test_it_picks_the_named_recipient_among_several_refused():
    exc = smtplib.SMTPRecipientsRefused(
        {"a@example.com": (452, b"4.2.2 Mailbox full"), "b@example.com": (550, b"5.7.1 spam")}
    )

    assert classify_exception(exc, "b@example.com").kind == SPAM
    assert classify_exception(exc, "a@example.com").kind == RETRY


def test_a_refusal_after_data_is_classified_like_any_reply():
    exc = smtplib.SMTPDataError(554, b"5.7.1 Message rejected as spam")

    assert classify_exception(exc).kind == SPAM


def test_a_refused_sender_never_counts_as_an_invalid_recipient():
    exc = smtplib.SMTPSenderRefused(550, b"5.1.0 Sender rejected: no such user", "bounce@mail.example.com")

    assert classify_exception(exc).kind == BOUNCED


@pytest.mark.parametrize(
    "exc",
    [
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"),
        smtplib.SMTPConnectError(554, b"No SMTP service here"),
        smtplib.SMTPHeloError(501, b"Syntax: HELO hostname"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        socket.gaierror(-2, "Name or service not known"),
    ],
    ids=["disconnected", "auth", "connect", "helo", "refused", "timeout", "relay dns"],
)
def test_relay_and_connection_failures_are_retried_not_counted(exc):
    assert classify_exception(exc).kind == RETRY


def test_an_exception_that_is_not_a_delivery_failure_is_a_bug():
    with pytest.raises(TypeError, match="not an SMTP delivery failure"):
        classify_exception(KeyError("x"))


def test_an_outcome_reads_like_the_reply():
    assert str(classify_reply(550, "5.1.1 User unknown")) == "550 5.1.1 User unknown"
    assert str(classify_reply(550, "User unknown", enhanced="5.1.1")) == "550 5.1.1 User unknown"
