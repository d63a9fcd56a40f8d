"""Bad input, generated, against what arrives after sending (issue 6): malformed DSN and ARF messages
fed to the parser (sending.inbound.reports.parse_report) and POSTed to /inbound/report, and generated JSON
POSTed, correctly signed, to /inbound/events.

The parser either reads a report or raises InboundError with a message a person can act on; the
endpoints answer 200 with their results or 400 with a JSON error, never 500, and a refusal records
nothing (every table's row count and the message rows compared before and after).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sending.inbound.reports import Finding, InboundError, parse_report
from sending.models import Message
from sending.tests.inbound_fixtures import make_message

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "sending" / "tests" / "samples").glob("*.eml"))
TOKEN = "inbound-token-for-fuzzing"
SECRET = "webhook-secret-for-fuzzing"
# The sample bounces speak about this message and recipient; the fixture sends exactly that.
SAMPLE_MESSAGE_ID = "6f1c2d3e00004000800000000000a001"
SAMPLE_RECIPIENT = "nobody@example.org"

# SES_FUZZ_SCALE=10 runs ten times the examples, for a deeper search than CI's bounded run.
FUZZ_SCALE = float(os.environ.get("SES_FUZZ_SCALE", "1"))
HYPOTHESIS = settings(
    max_examples=round(40 * FUZZ_SCALE), deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# Counted for every request, refused or not (the rate limiter's windows): not a write of the request's.
BOOKKEEPING = {"accounts.RateCount"}


def db_snapshot() -> dict:
    tables = sorted({model._meta.db_table for model in apps.get_models() if model._meta.managed and model._meta.label not in BOOKKEEPING})
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables))
        counts = dict(zip(tables, cursor.fetchone(), strict=True))
    messages = sorted(Message.objects.values_list("pk", "status", "smtp_reply", "complained_at"))
    return {"counts": counts, "messages": messages}


@pytest.fixture(autouse=True)
def _endpoints_on(settings):
    settings.SES_INBOUND_TOKEN = TOKEN
    settings.SES_WEBHOOK_SECRET = SECRET


@pytest.fixture
def message(verified_domain) -> Message:
    return make_message(verified_domain, SAMPLE_RECIPIENT, message_id=SAMPLE_MESSAGE_ID)


# --- generated reports ---------------------------------------------------------------------------

_nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from([
        "", "\x00", "a\x00b", "\r\n\r\n", "=?utf-8?b?////?=", "=?x-unknown?q?=FF?=", "; ", ";;;", "<>", "<<<@>>>",
        "rfc822; \x00@example.org", "smtp; 999 9.9.9 " + "x" * 2000, "9.9.9", "5.1.1.1.1", "failed" * 500,
        "\udcff", "unknown-type; ???", "rfc822;" + "a" * 70_000 + "@example.org",
        SAMPLE_MESSAGE_ID, f"<{SAMPLE_MESSAGE_ID}@mail.alice.example>", SAMPLE_RECIPIENT,
    ]),
)
_header_names = st.sampled_from([
    "Content-Type", "Final-Recipient", "Original-Recipient", "Action", "Status", "Diagnostic-Code",
    "Original-Envelope-Id", "Feedback-Type", "Original-Rcpt-To", "X-SES-Message-Id", "Message-ID", "To",
    "Content-Transfer-Encoding", "MIME-Version", "report-type",
])


def _replace_field(raw: bytes, name: str, value: str) -> bytes:
    """Every `Name: …` line of the message gets the generated value (or the field is added on top)."""
    encoded = value.encode("utf-8", "surrogateescape")
    pattern = re.compile(rb"^(" + re.escape(name.encode()) + rb":)[^\n]*$", re.MULTILINE | re.IGNORECASE)
    if pattern.search(raw):
        return pattern.sub(lambda m: m.group(1) + b" " + encoded.replace(b"\\", b"\\\\"), raw)
    return name.encode() + b": " + encoded + b"\n" + raw


@st.composite
def mutated_reports(draw) -> bytes:
    raw = draw(st.sampled_from(SAMPLES)).read_bytes()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["field", "field", "truncate", "splice", "drop-lines", "boundary", "encoding"]))
        if kind == "field":
            raw = _replace_field(raw, draw(_header_names), draw(_nasty_text))
        elif kind == "truncate":
            raw = raw[: draw(st.integers(min_value=0, max_value=len(raw)))]
        elif kind == "splice":
            at = draw(st.integers(min_value=0, max_value=len(raw)))
            raw = raw[:at] + draw(st.binary(max_size=64)) + raw[at:]
        elif kind == "drop-lines":
            lines = raw.split(b"\n")
            start = draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)))
            raw = b"\n".join(lines[:start] + lines[start + draw(st.integers(min_value=1, max_value=20)):])
        elif kind == "boundary":
            raw = re.sub(rb'boundary="?[^"\s;]+"?', b'boundary="' + draw(st.binary(max_size=8)).replace(b'"', b"") + b'"', raw)
        else:
            raw = raw.replace(b"\n", b"\r\n") if draw(st.booleans()) else raw.decode("latin-1").encode("utf-16")
    return raw


reports = st.one_of(mutated_reports(), mutated_reports(), mutated_reports(), st.binary(max_size=400))


@HYPOTHESIS
@given(raw=reports)
def test_the_parser_reads_a_report_or_says_why_not(raw):
    try:
        findings = parse_report(raw)
    except InboundError as exc:
        assert str(exc).strip()
    else:
        assert findings and all(isinstance(finding, Finding) for finding in findings)


def test_the_samples_are_reports():
    # The mutations start from real reports: if these stopped parsing, the fuzzing would test nothing.
    assert SAMPLES
    for sample in SAMPLES:
        if "malformed" in sample.name:
            continue
        assert parse_report(sample.read_bytes())


@HYPOTHESIS
@given(raw=reports)
def test_a_posted_report_is_recorded_or_refused_with_a_clear_error(client, message, raw):
    with transaction.atomic():
        before = db_snapshot()
        response = client.post(
            "/inbound/report", raw, content_type="message/rfc822", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.status_code in (200, 400), response.content[:300]
        assert response["Content-Type"] == "application/json"
        if response.status_code == 400:
            assert response.json()["error"].strip()
            assert db_snapshot() == before
        else:
            results = response.json()["results"]
            assert isinstance(results, list)
            # Only our one message can have been touched, and only when a result says so.
            if not any(result["recorded"] for result in results):
                assert db_snapshot() == before
            assert all(r["message_id"] in (None, SAMPLE_MESSAGE_ID) for r in results)
        transaction.set_rollback(True)


# --- generated webhook events --------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False),
    _nasty_text.filter(lambda s: "\udcff" not in s),
    st.sampled_from(["delivered", "bounce", "complaint", "deferred", "hard", "soft", "550 5.1.1 no such user",
                     "421 4.7.0 try later", uuid.UUID(SAMPLE_MESSAGE_ID).hex.upper(), str(uuid.UUID(SAMPLE_MESSAGE_ID))]),
)
_json = st.recursive(
    _json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10,
)
_event_keys = ["message_id", "event", "bounce_type", "recipient", "reply"]
events = st.fixed_dictionaries({}, optional={key: st.one_of(_json_scalars, _json) for key in _event_keys})
webhook_bodies = st.one_of(
    st.lists(events, max_size=4).map(lambda data: json.dumps(data).encode()),
    events.map(lambda data: json.dumps(data).encode()),
    _json.map(lambda data: json.dumps(data).encode()),
    st.binary(max_size=200),
    st.sampled_from([
        b"", b"[", b"{}", b"[]", b"null", b"\xff\xfe", b"[" * 50_000 + b"]" * 50_000, b'{"a": NaN}',
        b'[{"message_id": ' + b"9" * 5000 + b"}]", b'[{"message_id": "\\ud800", "event": "delivered"}]',
        b'[{"message_id": "\\u0000", "event": "delivered"}]',
        json.dumps([{"message_id": "x", "event": "delivered"}] * 1001).encode(),
    ]),
)


NASTY_WEBHOOK_BODIES = [
    b"", b"[", b"{}", b"[]", b"null", b"\xff\xfe", b"[" * 50_000 + b"]" * 50_000, b'{"a": NaN}',
    b'[{"message_id": ' + b"9" * 5000 + b"}]", b'[{"message_id": "\\ud800", "event": "delivered"}]',
    b'[{"message_id": "x", "event": "bounce", "bounce_type": "hard", "reply": "\\udfff"}]',
    b'[{"message_id": "\\u0000", "event": "delivered"}]', b'[{"message_id": "a\\u0000b", "event": "complaint"}]',
    b'[{"message_id": "' + SAMPLE_MESSAGE_ID.encode() + b'", "event": "delivered", "recipient": "\\u0000"}]',
    json.dumps([{"message_id": "x", "event": "delivered"}] * 1001).encode(),
]


def test_each_nasty_webhook_body_is_recorded_or_refused_with_a_clear_error(client, message):
    # The generated bodies below draw from these too, but a bounded run may not reach each one.
    for body in NASTY_WEBHOOK_BODIES:
        before = db_snapshot()
        response = client.post("/inbound/events", body, content_type="application/json", headers=_signed(body))
        assert response.status_code in (200, 400), body[:200]
        assert response["Content-Type"] == "application/json"
        if response.status_code == 400:
            assert response.json()["error"].strip()
        assert db_snapshot() == before, body[:200]


def _signed(body: bytes) -> dict:
    return {"X-SES-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


@HYPOTHESIS
@given(body=webhook_bodies)
def test_posted_events_are_recorded_or_refused_with_a_clear_error(client, message, body):
    with transaction.atomic():
        before = db_snapshot()
        response = client.post("/inbound/events", body, content_type="application/json", headers=_signed(body))
        assert response.status_code in (200, 400), response.content[:300]
        assert response["Content-Type"] == "application/json"
        if response.status_code == 400:
            assert response.json()["error"].strip()
            assert db_snapshot() == before
        else:
            results = response.json()["results"]
            if not any(result["recorded"] for result in results):
                assert db_snapshot() == before
        transaction.set_rollback(True)


@pytest.mark.parametrize("headers", [
    {}, {"X-SES-Signature": ""}, {"X-SES-Signature": "sha256="}, {"X-SES-Signature": "md5=abc"},
    {"X-SES-Signature": "sha256=" + "z" * 64}, {"X-SES-Signature": "sha256=\u00e9" * 500},
])
def test_an_unsigned_event_is_forbidden_and_writes_nothing(client, message, headers):
    before = db_snapshot()
    body = json.dumps([{"message_id": SAMPLE_MESSAGE_ID, "event": "complaint"}]).encode()
    response = client.post("/inbound/events", body, content_type="application/json", headers=headers)
    assert response.status_code == 403
    assert db_snapshot() == before


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer \x00", "Basic " + TOKEN, "Bearer " + "\u00e9" * 300])
def test_a_report_without_the_token_is_refused_and_writes_nothing(client, message, authorization):
    before = db_snapshot()
    response = client.post(
        "/inbound/report", SAMPLES[0].read_bytes(), content_type="message/rfc822",
        headers={"Authorization": authorization},
    )
    assert response.status_code == 401
    assert db_snapshot() == before


def test_an_oversized_report_is_refused_and_writes_nothing(client, message, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = db_snapshot()
    raw = SAMPLES[0].read_bytes() + b"x" * 20_000
    response = client.post(
        "/inbound/report", raw, content_type="message/rfc822", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code in (400, 413)
    assert db_snapshot() == before
