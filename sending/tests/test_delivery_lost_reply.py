"""A reply lost after the end of the data (RFC 1047): the relay most likely has the message.

Once "." has gone, a connection that closes or times out before the reply leaves the message with
the relay, in all likelihood. Sending it again would be a duplicate SPEC §4.3 does not allow (no
worker died): it is recorded as delivered, with a reply text saying what happened (a later DSN can
still move it to bounced), and the relay is down for the rest of the group.
"""

from __future__ import annotations

import datetime as dt

import pytest

from domains.models import DomainDay
from sending.delivery import deliver_messages, sweep_stale_messages
from sending.models import Message
from sending.tests.scripted_relay import ScriptedRelay
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send
from tests.smtpsink import Received

LOST = (
    "no reply after the end of data (connection lost or timed out); the relay may have accepted the"
    " message; not sent again to avoid a duplicate (RFC 1047)"
)


class SilentAfterData(ScriptedRelay):
    """Stores the message of `silent` local parts, then closes the connection without a reply."""

    silent: set[str] = set()

    async def handle_DATA(self, server, session, envelope):
        if not any(address.split("@")[0] in self.silent for address in envelope.rcpt_tos):
            return await super().handle_DATA(server, session, envelope)
        received = Received(  # (_session_number takes the lock itself)
            mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos),
            raw=envelope.original_content or envelope.content, session=self._session_number(session),
        )
        with self._lock:
            self.received.append(received)
        server.transport.abort()  # no reply: the connection just ends
        return "250 2.0.0 Ok"  # aiosmtpd's push of it finds the connection gone


@pytest.fixture
def silent_relay(settings):
    relay = SilentAfterData()
    relay.silent = {"a"}
    relay.start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = relay.host, relay.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    monkeypatch.setattr("sending.services.enqueue", lambda ids: None)
    monkeypatch.setattr("sending.tasks.enqueue", lambda ids: None)


def copies(relay, local_part: str) -> int:
    return sum(1 for r in relay.received for address in r.rcpt_tos if address.split("@")[0] == local_part)


@pytest.mark.django_db(transaction=True)
def test_a_reply_lost_after_the_end_of_data_is_not_sent_again(
    silent_relay, settings, sender, template, account, verified_domain  # noqa: F811
):
    a, b = send(account, template, "a@example.org", "b@example.org")

    first = deliver_messages([a.pk, b.pk])
    # b had not begun: it waits for the relay, unstarted and with no attempt counted.
    assert first.outcomes == {"delivered": 1, "relay_down": 1}
    b.refresh_from_db()
    assert (b.status, b.smtp_started_at, b.attempts) == (Message.DEFERRED, None, 0)

    Message.objects.update(next_attempt_at=None)  # both due again, as far as the clock goes
    second = deliver_messages([a.pk, b.pk])
    assert second.outcomes == {"delivered": 1}
    later = dt.timedelta(seconds=settings.SES_SWEEP_CLAIM_TIMEOUT_SECONDS + 60)
    sweep_stale_messages(now=a.created_at + later)
    deliver_messages([a.pk, b.pk])

    assert copies(silent_relay, "a") == 1
    assert copies(silent_relay, "b") == 1
    a.refresh_from_db()
    assert (a.status, a.outcome, a.attempts, a.smtp_code) == (Message.DELIVERED, "delivered", 1, None)
    assert a.smtp_reply == LOST
    assert list(a.events.filter(kind="delivered").values_list("detail__reply", flat=True)) == [LOST]
    assert not a.events.filter(kind__in=["deferred", "retry"]).exists()
    assert DomainDay.objects.get(domain=verified_domain).delivered == 2  # a counted once, b once
