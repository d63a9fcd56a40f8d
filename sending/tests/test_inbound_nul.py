"""A report whose fields carry NUL characters is read without them: PostgreSQL can neither look up
nor store NUL, and the report endpoint used to fail with a 500. Found by
tests/resilience/test_bad_input_inbound.py."""

from pathlib import Path

from sending.inbound.reports import parse_report
from sending.models import Message
from sending.tests.inbound_fixtures import make_message

SAMPLE = Path(__file__).parent / "samples" / "postfix-dsn-5.1.1-user-unknown.eml"
TOKEN = "inbound-token-for-tests"


def with_nuls(raw: bytes) -> bytes:
    raw = raw.replace(b"Original-Envelope-Id: 6f1c2d3e", b"Original-Envelope-Id: 6f1c\x002d3e")
    raw = raw.replace(b"Final-Recipient: rfc822; nobody@", b"Final-Recipient: rfc822; nobody\x00@")
    return raw.replace(b"Diagnostic-Code: smtp; 550 5.1.1", b"Diagnostic-Code: smtp; 550 5.1.1 \x00")


def test_the_parser_drops_nul_from_every_field():
    [finding] = parse_report(with_nuls(SAMPLE.read_bytes()))

    assert finding.final_recipient == "nobody@example.org"
    assert finding.envelope_id == "6f1c2d3e-0000-4000-8000-00000000a001"
    assert "\x00" not in (finding.diagnostic or "")


def test_a_posted_report_with_nuls_is_recorded(client, settings, verified_domain):
    settings.SES_INBOUND_TOKEN = TOKEN
    message = make_message(verified_domain, "nobody@example.org", message_id="6f1c2d3e00004000800000000000a001")

    response = client.post(
        "/inbound/report", with_nuls(SAMPLE.read_bytes()), content_type="message/rfc822",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert response.status_code == 200
    assert response.json()["results"][0]["recorded"] is True
    message.refresh_from_db()
    assert message.status == Message.BOUNCED
