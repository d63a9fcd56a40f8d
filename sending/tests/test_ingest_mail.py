"""`manage.py ingest_mail < report.eml`: what an MTA's pipe transport runs for each bounce or complaint."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from sending.models import Message
from sending.tests.inbound_fixtures import counters, make_message, written

SAMPLES = Path(__file__).parent / "samples"


def ingest(raw: bytes) -> str:
    out = io.StringIO()
    call_command("ingest_mail", stdin=io.BytesIO(raw), stdout=out)
    return out.getvalue()


def test_it_records_a_bounce_and_says_what_it_recorded(verified_domain):
    message = make_message(verified_domain, "nobody@example.org", message_id="6f1c2d3e00004000800000000000a001")

    output = ingest((SAMPLES / "postfix-dsn-5.1.1-user-unknown.eml").read_bytes())

    assert "invalid nobody@example.org [6f1c2d3e00004000800000000000a001]: recorded" in output
    assert "1 of 1 finding(s) recorded." in output
    message.refresh_from_db()
    assert message.status == Message.BOUNCED


def test_it_says_when_a_report_names_no_message_of_ours(db):
    output = ingest((SAMPLES / "yahoo-arf-abuse.eml").read_bytes())

    assert "no such message of ours" in output
    assert "0 of 1 finding(s) recorded." in output


def test_it_refuses_a_malformed_message_with_a_clear_error(verified_domain):
    make_message(verified_domain, "nobody@example.org")
    before = counters(verified_domain), written()

    with pytest.raises(CommandError, match="Not a report we can read: .*not multipart/report"):
        ingest(b"Subject: hi\n\nnot a report\n")
    with pytest.raises(CommandError, match="empty"):
        ingest(b"")

    assert (counters(verified_domain), written()) == before


def test_it_exits_non_zero_on_malformed_input_from_stdin():
    # The real command line: the exit status is what tells the MTA the report was not taken.
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest_mail"],
        input=b"Subject: hi\n\nnot a report\n",
        capture_output=True,
        cwd=settings.BASE_DIR,
        timeout=60,
    )

    assert result.returncode != 0
    assert b"not multipart/report" in result.stderr
