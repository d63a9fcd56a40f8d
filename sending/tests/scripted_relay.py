"""A relay that misbehaves on cue, for delivery tests: tests.smtpsink's aiosmtpd sink, plus

    close_after(local part, reply, at="rcpt" | "data")   answer `reply`, then drop the connection
    close_after(local part, reply="250 ...", at="data")  accept the message, then drop the connection
    advertise_auth("XFOO")                               EHLO offers AUTH with only these mechanisms

A real relay does this when it shuts down (421 then close), times a session out, or is configured
for a login method smtplib does not speak. Use the `scripted_relay` fixture (it sets EMAIL_HOST/PORT).
"""

from __future__ import annotations

import pytest

from tests.smtpsink import ACCEPTED, Received, SmtpSink


class ScriptedRelay(SmtpSink):
    def __init__(self) -> None:
        super().__init__()
        self.closing: dict[tuple[str, str], str] = {}  # (at, local part) -> reply sent before closing
        self.auth_mechanisms: str | None = None

    def close_after(self, local_part: str, reply: str, *, at: str) -> None:
        assert at in ("rcpt", "data")
        with self._lock:
            self.closing[(at, local_part.lower())] = reply

    def advertise_auth(self, mechanisms: str) -> None:
        self.auth_mechanisms = mechanisms

    def _closing_reply(self, at: str, address: str) -> str | None:
        with self._lock:
            return self.closing.get((at, address.lower().rsplit("@", 1)[0]))

    @staticmethod
    async def _reply_and_close(server, reply: str) -> str:
        await server.push(reply)
        server.transport.close()
        return reply  # aiosmtpd's own push of it finds the connection gone

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        if self.auth_mechanisms:
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
            responses.insert(len(responses) - 1, f"250-AUTH {self.auth_mechanisms}")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._closing_reply("rcpt", address)
        if reply is not None:
            return await self._reply_and_close(server, reply)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            reply = self._closing_reply("data", address)
            if reply is None:
                continue
            if reply.startswith("2"):
                received = Received(
                    mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=envelope.original_content or envelope.content,
                    session=self._session_number(session),
                )
                with self._lock:
                    self.received.append(received)
            return await self._reply_and_close(server, reply)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def scripted_relay(settings):
    relay = ScriptedRelay()
    relay.start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = relay.host, relay.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield relay
    finally:
        relay.stop()


__all__ = ["ACCEPTED", "ScriptedRelay", "scripted_relay"]
