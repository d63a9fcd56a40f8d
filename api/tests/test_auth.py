"""TC3-HMAC-SHA256 verification: forged, stale and unknown credentials are refused, nothing written."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import time_machine

from api.tests.signing import error_code, post, signed_headers, tc3_signature

NOW = dt.datetime(2025, 3, 14, 12, 0, 0, tzinfo=dt.UTC)
BODY = b"{}"


@pytest.fixture
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield int(NOW.timestamp())


def send(api, body=BODY, action="ListEmailIdentities", secret_key=None, **sign):
    headers = signed_headers(api.secret_id, secret_key or api.secret_key, action, body, **sign)
    return post(api.client, body, headers)


def test_a_correctly_signed_request_succeeds(api):
    data = send(api).json()["Response"]

    assert "Error" not in data
    assert data["EmailIdentities"] == []


def test_it_rejects_a_request_signed_with_the_wrong_secret_key(api, db_state):
    before = db_state()

    data = send(api, secret_key="not-the-secret-key").json()["Response"]

    assert error_code(data) == "AuthFailure.SignatureFailure"
    assert db_state() == before


def test_it_rejects_a_body_changed_after_signing(api, db_state):
    headers = signed_headers(api.secret_id, api.secret_key, "CreateEmailIdentity", b'{"EmailIdentity": "a.example.com"}')
    before = db_state()

    data = post(api.client, b'{"EmailIdentity": "b.example.com"}', headers).json()["Response"]

    assert error_code(data) == "AuthFailure.SignatureFailure"
    assert db_state() == before


def test_it_rejects_a_different_content_type_than_was_signed(api, db_state):
    headers = signed_headers(api.secret_id, api.secret_key, "ListEmailIdentities", BODY)
    before = db_state()

    data = post(api.client, BODY, headers, content_type="text/plain").json()["Response"]

    assert error_code(data) == "AuthFailure.SignatureFailure"
    assert db_state() == before


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86400])
def test_it_rejects_a_timestamp_more_than_300_seconds_off(api, db_state, frozen_clock, offset):
    before = db_state()

    data = send(api, timestamp=frozen_clock + offset).json()["Response"]

    assert error_code(data) == "AuthFailure.SignatureExpire"
    assert "300 seconds" in data["Error"]["Message"]
    assert db_state() == before


@pytest.mark.parametrize("offset", [-300, -299, 0, 299, 300])
def test_it_accepts_a_timestamp_within_300_seconds(api, frozen_clock, offset):
    data = send(api, timestamp=frozen_clock + offset).json()["Response"]

    assert "Error" not in data


def test_it_rejects_an_unknown_secret_id(api, db_state):
    api.secret_id = "AKIDnobodyhasthisid"
    before = db_state()

    data = send(api).json()["Response"]

    assert error_code(data) == "AuthFailure.SecretIdNotFound"
    assert db_state() == before


def test_it_rejects_a_disabled_key(api, db_state):
    api.key.enabled = False
    api.key.save(update_fields=["enabled"])
    before = db_state()

    data = send(api).json()["Response"]

    assert error_code(data) == "AuthFailure.SecretIdNotFound"
    assert db_state() == before


def test_it_rejects_a_request_without_authorization(api, db_state):
    headers = signed_headers(api.secret_id, api.secret_key, "ListEmailIdentities", BODY)
    del headers["Authorization"]
    before = db_state()

    data = post(api.client, BODY, headers).json()["Response"]

    assert error_code(data) == "AuthFailure.InvalidAuthorization"
    assert "missing" in data["Error"]["Message"]
    assert db_state() == before


@pytest.mark.parametrize("authorization", [
    "Bearer abc",
    "TC3-HMAC-SHA256 Signature=abc",
    "HMAC-SHA1 Credential={id}/{date}/ses/tc3_request, SignedHeaders=content-type;host, Signature=ab12",
    "TC3-HMAC-SHA256 Credential={id}/{date}/ses, SignedHeaders=content-type;host, Signature=ab12",
    "TC3-HMAC-SHA256 Credential={id}/{date}/ses/tc3_request, SignedHeaders=content-type, Signature=ab12",
    "TC3-HMAC-SHA256 Credential={id}/{date}/ses/tc3_request, SignedHeaders=content-type;host, Signature=not-hex",
])
def test_it_rejects_a_garbled_authorization(api, db_state, authorization):
    headers = signed_headers(api.secret_id, api.secret_key, "ListEmailIdentities", BODY)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    headers["Authorization"] = authorization.format(id=api.secret_id, date=date)
    before = db_state()

    data = post(api.client, BODY, headers).json()["Response"]

    assert error_code(data) == "AuthFailure.InvalidAuthorization"
    assert db_state() == before


def test_it_rejects_a_credential_scope_for_another_service(api, db_state):
    before = db_state()

    data = send(api, service="cvm").json()["Response"]

    assert error_code(data) == "AuthFailure.SignatureFailure"
    assert "cvm" in data["Error"]["Message"]
    assert db_state() == before


def test_it_rejects_a_credential_date_that_is_not_the_utc_date_of_the_timestamp(api, frozen_clock, db_state):
    before = db_state()

    data = send(api, timestamp=frozen_clock, date="2025-03-13").json()["Response"]

    assert error_code(data) == "AuthFailure.SignatureFailure"
    assert "2025-03-14" in data["Error"]["Message"]
    assert db_state() == before


def test_it_uses_the_utc_date_even_late_in_the_evening_west_of_greenwich(api, settings):
    settings.TIME_ZONE = "America/Los_Angeles"
    late_evening = dt.datetime(2025, 3, 14, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
    with time_machine.travel(late_evening, tick=False):
        data = send(api, timestamp=int(late_evening.timestamp())).json()["Response"]

    assert "Error" not in data


def test_it_refuses_a_missing_timestamp(api, db_state):
    headers = signed_headers(api.secret_id, api.secret_key, "ListEmailIdentities", BODY)
    del headers["X-TC-Timestamp"]

    data = post(api.client, BODY, headers).json()["Response"]

    assert error_code(data) == "MissingParameter"
    assert "X-TC-Timestamp" in data["Error"]["Message"]


def test_it_accepts_header_values_lowercased_as_tencents_documentation_signs_them(api):
    # The documented canonical form lowercases values; the SDK sends them as they are.
    timestamp = int(dt.datetime.now(dt.UTC).timestamp())
    headers = signed_headers(api.secret_id, api.secret_key, "ListEmailIdentities", BODY, timestamp=timestamp)
    headers["Host"] = "TestServer"

    data = post(api.client, BODY, headers).json()["Response"]

    assert "Error" not in data


def test_it_accepts_an_unsigned_payload_when_the_client_declares_one(api):
    timestamp = int(dt.datetime.now(dt.UTC).timestamp())
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    headers = signed_headers(api.secret_id, api.secret_key, "ListEmailIdentities", b"UNSIGNED-PAYLOAD", timestamp=timestamp)
    headers["X-TC-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    assert tc3_signature(api.secret_key, body=b"UNSIGNED-PAYLOAD", timestamp=timestamp, date=date) in headers["Authorization"]

    data = post(api.client, json.dumps({"Limit": 5}).encode(), headers).json()["Response"]

    assert "Error" not in data


def test_it_records_when_a_key_was_last_used(api):
    assert api.key.last_used_at is None

    send(api)

    api.key.refresh_from_db()
    assert api.key.last_used_at is not None


@pytest.mark.parametrize("sign", [{"secret_key": "wrong"}, {"timestamp": 1}, {"service": "cvm"}])
def test_a_refused_signature_does_not_mark_the_key_used(api, sign):
    data = send(api, **sign).json()["Response"]

    assert error_code(data).startswith("AuthFailure.")

    api.key.refresh_from_db()
    assert api.key.last_used_at is None
