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
