"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, answering per recipient like a mailbox host.

Delivery talks to it through smtplib exactly as it talks to Postfix in production; only the server
is ours. Replies are chosen per recipient (the whole address or its local part) at RCPT time, or
after DATA (`data_replies`, as content filters answer); everything else is accepted with 250.
It records every accepted envelope with its raw bytes and counts SMTP sessions, so a test can see
that one connection carried a whole batch.

Use the `smtp_sink` fixture (enable it with `pytest_plugins = ["tests.smtpsink"]` in conftest.py);
it points settings.EMAIL_HOST / EMAIL_PORT at the server.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

# Replies of real receiving servers, for tests to pick from.
USER_UNKNOWN = "550 5.1.1 <{address}>: Recipient address rejected: User unknown"
SPAM = "550 5.7.1 Message rejected as spam by content filter"
MAILBOX_FULL = "452 4.2.2 Mailbox full, try again later"
ACCEPTED = "250 2.0.0 Ok: queued"


@dataclass(frozen=True)
class Received:
    """One message the sink accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    session: int  # which SMTP connection carried it (1, 2, …)

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """rcpt_replies / data_replies: {address or local part: "550 5.1.1 text"}, matched case-insensitively."""

    def __init__(self) -> None:
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: dict[str, str] = {}
        self.received: list[Received] = []
        self.sessions: list[object] = []
        self._lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = _free_port()
        self._controller = Controller(self, hostname=self.host, port=self.port)

    # --- configuration ------------------------------------------------------------------------------

    def reply(self, address_or_local_part: str, reply: str, *, after_data: bool = False) -> None:
        target = self.data_replies if after_data else self.rcpt_replies
        with self._lock:
            target[address_or_local_part.lower()] = reply

    def _reply_for(self, table: dict[str, str], address: str) -> str | None:
        address = address.lower()
        local = address.rsplit("@", 1)[0]
        with self._lock:
            reply = table.get(address) or table.get(local)
        return reply.format(address=address) if reply else None

    # --- what was received --------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self.sessions)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address.lower() in (a.lower() for a in r.rcpt_tos)]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.sessions.clear()

    # --- aiosmtpd handler hooks ---------------------------------------------------------------------

    def _session_number(self, session) -> int:
        with self._lock:
            for number, known in enumerate(self.sessions, start=1):
                if known is session:
                    return number
            self.sessions.append(session)
            return len(self.sessions)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self._session_number(session)
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        self._session_number(session)
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._reply_for(self.rcpt_replies, address)
        if reply and not reply.startswith("2"):
            return reply
        envelope.rcpt_tos.append(address)
        return reply or "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            reply = self._reply_for(self.data_replies, address)
            if reply and not reply.startswith("2"):
                return reply
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=envelope.original_content or envelope.content,
            session=self._session_number(session),
        )
        with self._lock:
            self.received.append(received)
        return ACCEPTED

    # --- lifetime -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def smtp_sink(settings):
    sink = SmtpSink()
    sink.start()
    settings.EMAIL_HOST = sink.host
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield sink
    finally:
        sink.stop()


def closed_port() -> int:
    """A port nothing listens on: a relay that is down."""
    return _free_port()
