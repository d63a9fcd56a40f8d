"""Webhook bodies found by tests/resilience/test_bad_input_inbound.py: refused with a clear 400,
never a 500, and nothing recorded."""

import hashlib
import hmac

import pytest

from sending.tests.inbound_fixtures import counters, make_message, written

SECRET = "webhook-secret-for-tests"


@pytest.fixture(autouse=True)
def _webhook_on(settings):
    settings.SES_WEBHOOK_SECRET = SECRET


@pytest.mark.parametrize("body, error", [
    (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    (b'[{"message_id": ' + b"9" * 5000 + b', "event": "delivered"}]', "too many digits"),
])
def test_a_body_python_cannot_read_as_json_is_a_clear_400(client, verified_domain, body, error):
    make_message(verified_domain)
    before = counters(verified_domain), written()

    response = client.post(
        "/inbound/events", body, content_type="application/json",
        headers={"X-SES-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()},
    )

    assert response.status_code == 400
    assert error in response.json()["error"]
    assert (counters(verified_domain), written()) == before


def test_a_signature_with_non_ascii_characters_is_forbidden_not_a_crash(client, verified_domain):
    make_message(verified_domain)
    before = counters(verified_domain), written()

    response = client.post(
        "/inbound/events", b"[]", content_type="application/json", headers={"X-SES-Signature": "sha256=\u00e9" * 10},
    )

    assert response.status_code == 403
    assert (counters(verified_domain), written()) == before


@pytest.mark.parametrize("body", [
    b'[{"message_id": "\\ud800", "event": "delivered"}]',
    b'[{"message_id": "x", "event": "bounce", "bounce_type": "hard", "reply": "\\udfff"}]',
])
def test_a_lone_surrogate_escape_is_a_clear_400(client, verified_domain, body):
    # Half a UTF-16 pair cannot be encoded for the database: it used to fail there with a 500.
    make_message(verified_domain)
    before = counters(verified_domain), written()

    response = client.post(
        "/inbound/events", body, content_type="application/json",
        headers={"X-SES-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()},
    )

    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]
    assert (counters(verified_domain), written()) == before


@pytest.mark.parametrize("event", [
    '{"message_id": "\\u0000", "event": "delivered"}',
    '{"message_id": "a\\u0000b", "event": "complaint"}',
    '{"message_id": "6f1c2d3e00004000800000000000a001", "event": "delivered", "recipient": "x\\u0000"}',
    '{"message_id": "6f1c2d3e00004000800000000000a001", "event": "bounce", "bounce_type": "soft", "reply": "\\u0000"}',
])
def test_a_nul_in_an_event_is_a_clear_400(client, verified_domain, event):
    # PostgreSQL refuses NUL in text and in jsonb: the lookup used to fail there with a 500.
    make_message(verified_domain, "nobody@example.org", message_id="6f1c2d3e00004000800000000000a001")
    before = counters(verified_domain), written()
    body = f"[{event}]".encode()

    response = client.post(
        "/inbound/events", body, content_type="application/json",
        headers={"X-SES-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()},
    )

    assert response.status_code == 400
    assert "NUL" in response.json()["error"]
    assert (counters(verified_domain), written()) == before
