"""The machine endpoints: raw reports by bearer token, and the HMAC-signed MTA event webhook."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from sending.models import Message, Suppression
from sending.tests.inbound_fixtures import counters, make_message, written

SAMPLES = Path(__file__).parent / "samples"
TOKEN = "inbound-token-for-tests"
SECRET = "webhook-secret-for-tests"


@pytest.fixture(autouse=True)
def _endpoints_on(settings):
    settings.SES_INBOUND_TOKEN = TOKEN
    settings.SES_WEBHOOK_SECRET = SECRET


def post_report(client, raw: bytes, token: str = TOKEN):
    return client.post(
        "/inbound/report", raw, content_type="message/rfc822", headers={"Authorization": f"Bearer {token}"}
    )


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_events(client, events, *, secret: str = SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(events).encode()
    return client.post(
        "/inbound/events", body, content_type="application/json", headers={"X-SES-Signature": signature(body, secret)}
    )


# --- Raw reports ---------------------------------------------------------------------------------


def test_a_report_posted_with_the_token_is_recorded(client, verified_domain):
    message = make_message(verified_domain, "nobody@example.org", message_id="6f1c2d3e00004000800000000000a001")

    response = post_report(client, (SAMPLES / "postfix-dsn-5.1.1-user-unknown.eml").read_bytes())

    assert response.status_code == 200
    assert response.json()["results"][0] | {"note": ""} == {
        "recipient": "nobody@example.org", "outcome": "invalid", "message_id": message.message_id,
        "recorded": True, "note": "",
    }
    message.refresh_from_db()
    assert message.status == Message.BOUNCED


def test_a_wrong_or_missing_token_is_refused_and_nothing_is_written(client, verified_domain):
    make_message(verified_domain, "nobody@example.org", message_id="6f1c2d3e00004000800000000000a001")
    before = counters(verified_domain), written()
    raw = (SAMPLES / "postfix-dsn-5.1.1-user-unknown.eml").read_bytes()

    assert post_report(client, raw, token="guessed").status_code == 401
    assert client.post("/inbound/report", raw, content_type="message/rfc822").status_code == 401
    assert (counters(verified_domain), written()) == before


def test_a_malformed_report_gets_a_clear_json_error(client, db):
    response = post_report(client, b"Subject: hi\n\nnot a report\n")

    assert response.status_code == 400
    assert "not multipart/report" in response.json()["error"]


def test_the_report_endpoint_is_off_without_a_token(client, settings, db):
    settings.SES_INBOUND_TOKEN = ""

    assert post_report(client, b"anything", token="").status_code == 404


def test_the_report_endpoint_takes_only_post(client, db):
    assert client.get("/inbound/report", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405


# --- The MTA webhook -----------------------------------------------------------------------------


def test_signed_events_are_recorded(client, verified_domain):
    queued = make_message(verified_domain, "a@example.org", delivered=False)
    invalid = make_message(verified_domain, "b@example.org", delivered=False)
    soft = make_message(verified_domain, "c@example.org", delivered=False)
    complained = make_message(verified_domain, "d@example.org")

    response = post_events(client, [
        {"message_id": queued.message_id, "event": "delivered", "recipient": "a@example.org", "reply": "250 ok"},
        {"message_id": invalid.message_id, "event": "bounce", "bounce_type": "hard", "recipient": "b@example.org",
         "reply": "550 5.1.1 user unknown"},
        {"message_id": soft.message_id, "event": "bounce", "bounce_type": "soft", "reply": "452 4.2.2 mailbox full"},
        {"message_id": complained.message_id, "event": "complaint"},
    ])

    assert response.status_code == 200, response.content
    assert [r["outcome"] for r in response.json()["results"]] == ["delivered", "invalid", "bounced", "complaint"]
    for message in (queued, invalid, soft, complained):
        message.refresh_from_db()
    assert (queued.status, invalid.status, soft.status) == (Message.DELIVERED, Message.BOUNCED, Message.BOUNCED)
    assert (invalid.outcome, soft.outcome) == ("invalid", "bounced")
    assert complained.complained_at is not None
    assert Suppression.objects.filter(email="b@example.org", reason=Suppression.BLACKLIST).exists()
    assert soft.events.get(kind="bounced").detail["bounce_type"] == "soft"


def test_an_event_retried_by_the_mta_is_counted_once(client, verified_domain):
    message = make_message(verified_domain, "a@example.org", delivered=False)
    events = [{"message_id": message.message_id, "event": "delivered"}]
    post_events(client, events)
    before = counters(verified_domain), written()

    response = post_events(client, events)

    assert response.json()["results"][0]["note"] == "already recorded"
    assert (counters(verified_domain), written()) == before


def test_an_event_about_an_unknown_message_is_reported_not_recorded(client, verified_domain):
    message = make_message(verified_domain, "a@example.org", delivered=False)
    before = written()

    response = post_events(client, [
        {"message_id": "0" * 32, "event": "delivered"},
        {"message_id": message.message_id, "event": "delivered", "recipient": "not-the-recipient@example.org"},
    ])

    assert response.status_code == 200
    assert [r["note"] for r in response.json()["results"]] == ["no such message of ours"] * 2
    assert written() == before


@pytest.mark.parametrize("header", ["", "sha256=" + "0" * 64, "md5=abc", "sha256="])
def test_a_bad_signature_is_forbidden_and_nothing_is_written(client, verified_domain, header):
    message = make_message(verified_domain, "a@example.org", delivered=False)
    body = json.dumps([{"message_id": message.message_id, "event": "delivered"}]).encode()
    before = counters(verified_domain), written()

    response = client.post("/inbound/events", body, content_type="application/json", headers={"X-SES-Signature": header})

    assert response.status_code == 403
    assert "X-SES-Signature" in response.json()["error"]
    assert (counters(verified_domain), written()) == before


def test_a_body_signed_with_another_secret_is_forbidden(client, verified_domain):
    message = make_message(verified_domain, "a@example.org", delivered=False)

    response = post_events(client, [{"message_id": message.message_id, "event": "delivered"}], secret="guess")

    assert response.status_code == 403
    message.refresh_from_db()
    assert message.status == Message.QUEUED


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "JSON list of events"),
        (b'"delivered"', "JSON list of events"),
        (b'[{"event": "delivered"}]', "message_id is required"),
        (b'[{"message_id": "x", "event": "exploded"}]', "event must be one of"),
        (b'[{"message_id": "x", "event": "bounce"}]', "bounce_type"),
        (b'[{"message_id": "x", "event": "delivered", "recipient": 7}]', "must be strings"),
        (b'[1]', "expected an object"),
    ],
)
def test_a_malformed_body_gets_a_clear_json_error(client, db, raw, error):
    response = post_events(client, None, raw=raw)

    assert response.status_code == 400
    assert error in response.json()["error"]


def test_one_bad_event_in_a_list_writes_nothing_at_all(client, verified_domain):
    message = make_message(verified_domain, "a@example.org", delivered=False)
    before = counters(verified_domain), written()

    response = post_events(client, [
        {"message_id": message.message_id, "event": "delivered"},
        {"message_id": message.message_id, "event": "bounce", "bounce_type": "medium"},
    ])

    assert response.status_code == 400
    assert response.json()["error"].startswith("Event 1:")
    assert (counters(verified_domain), written()) == before


def test_the_webhook_is_off_without_a_secret(client, settings, db):
    settings.SES_WEBHOOK_SECRET = ""

    assert post_events(client, [], secret="").status_code == 404
