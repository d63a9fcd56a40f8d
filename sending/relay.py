"""The SMTP client of delivery: one connection to the configured relay, reused for a group of messages.

    Relay        the connection, opened on first use; one transaction at a time:
        send                  a whole transaction: the relay's verdict on one recipient
        begin                 all of a transaction but the end of its data (MAIL, RCPT, DATA, content)
        begin_in_background   begin() in the relay's own thread, so the caller can commit meanwhile
        finish                the end of the data: the relay's verdict (an outcomes.Outcome)
        abandon, abandon_begun  drop a transaction begun and not finished: the relay discards it
        shutdown, close, drop the connection's end, with or without a QUIT
    RelayDown    raised when the relay is not answering at all (nothing about the recipient)

No database here (an import-linter contract in pyproject.toml keeps it so): replies become
sending.outcomes values, and what they do to a message is sending.delivery's business. Why the end
of the data is sent apart from the rest: docs/delivery.md.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from sending import outcomes

log = logging.getLogger(__name__)


class RelayDown(Exception):
    """The relay cannot be reached, or dropped the connection: nothing about the recipient."""

    def __init__(self, outcome: outcomes.Outcome):
        super().__init__(outcome.text)
        self.outcome = outcome


@dataclass
class Relay:
    """One SMTP connection to the configured relay, opened on first use and reused for a batch."""

    connection: smtplib.SMTP | None = None
    down: outcomes.Outcome | None = None  # once down, the rest of the batch waits for the next try
    connections: int = 0

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=settings.EMAIL_TIMEOUT)
        try:
            smtp.ehlo()
            if settings.EMAIL_USE_TLS:
                smtp.starttls()
                smtp.ehlo()
            if settings.EMAIL_HOST_USER:
                smtp.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
            # The end of the data goes in a write of its own after the claim's commit (see begin):
            # without TCP_NODELAY, Nagle holds it until the relay's delayed ACK, ~40 ms a message.
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            smtp.close()
            raise
        self.connections += 1
        return smtp

    in_data: bool = False  # the message's content is sent, its end-of-data is not: nothing accepted yet
    _pool: ThreadPoolExecutor | None = None

    def send(self, sender: str, recipient: str, raw: bytes) -> outcomes.Outcome:
        """The relay's verdict on one recipient; RelayDown when the relay is not answering at all."""
        refused = self.begin(sender, recipient, raw)
        return refused if refused is not None else self.finish()

    def begin(self, sender: str, recipient: str, raw: bytes) -> outcomes.Outcome | None:
        """All of one SMTP transaction but its end: MAIL, RCPT, DATA and the content.

        None when the relay waits for the end of the data; the relay's refusal otherwise (the
        transaction is reset). The relay accepts nothing before finish() sends the end of the data:
        a transaction abandoned here (abandon(), or the process killed) is discarded by the relay
        (RFC 5321 §4.1.1.4). RelayDown when the relay is not answering at all.
        """
        if self.down is not None:
            raise RelayDown(self.down)
        try:
            with self._down_on_failure():
                return self._begin(sender, recipient, raw)
        except RelayDown:
            raise
        except Exception as exc:
            # Unforeseen (a bug, a library's surprise): the end of the data was never sent, so the relay
            # accepted nothing; it is unusable for now, like a relay that does not answer.
            log.exception("the relay transaction failed before the end of its data")
            self.drop()  # whatever state the connection is in, it goes without a QUIT
            self.down = outcomes.connection_failed(f"{type(exc).__name__}: {exc}".strip())
            raise RelayDown(self.down) from exc

    def _begin(self, sender: str, recipient: str, raw: bytes) -> outcomes.Outcome | None:
        if self.connection is None:
            self.connection = self._connect()
            code, reply = self.connection.mail(sender)
        else:
            try:
                code, reply = self.connection.mail(sender)
            except smtplib.SMTPServerDisconnected:
                code = None
            if code in (None, 421):
                # The relay closed the connection since its last reply, or said it is closing it (an
                # idle timeout, a restart): nothing had begun, so once more on a new connection before
                # taking its answer (or its silence) as the message's or calling it down.
                self.drop()
                self.connection = self._connect()
                code, reply = self.connection.mail(sender)
        smtp = self.connection
        if code != 250:
            self._reset()
            return outcomes.classify_exception(smtplib.SMTPSenderRefused(code, reply, sender))
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            self._reset()
            return outcomes.classify_reply(code, reply)
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:  # DATA itself refused
            self._reset()
            return outcomes.classify_exception(smtplib.SMTPDataError(code, reply))
        content = smtplib._quote_periods(raw)
        if content[-2:] != b"\r\n":
            content += b"\r\n"
        self.in_data = True
        smtp.send(content)
        return None

    def _reset(self) -> None:
        """RSET after a refusal (whose reply is already taken); a relay that closed the connection with its
        reply (421, or a 5xx and goodbye) is not down for that: the connection goes, the next message
        opens a new one."""
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self.drop()

    def drop(self) -> None:
        """Close the connection without a word to the relay."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self.in_data = False

    def finish(self) -> outcomes.Outcome:
        """End the data begun by begin(): the relay's verdict on the message."""
        with self._down_on_failure():
            smtp = self.connection
            smtp.send(b".\r\n")
            self.in_data = False
            # A reply lost here (the relay went away after the end of the data) counts as the relay
            # down: the message is sent again later, as MTAs do (RFC 1047). The relay may have kept
            # it (a duplicate) or not (a relay that crashed): taking it as delivered could lose it.
            code, reply = smtp.getreply()
            outcome = outcomes.classify_reply(code, reply)  # the reply stands, whatever the connection does next
        if code != 250:
            self._reset()
        return outcome

    def begin_in_background(self, sender: str, recipient: str, raw: bytes) -> Future:
        """begin() in the relay's own thread, so the caller can commit meanwhile; result() is begin's."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay")
        return self._pool.submit(self.begin, sender, recipient, raw)

    def abandon_begun(self, begun: Future) -> None:
        """The claim failed: wait for begin() to end, then drop what it began."""
        try:
            begun.result()
        except RelayDown:
            pass
        except Exception:  # begin() failed halfway in an unforeseen way: its connection goes too
            log.exception("the relay transaction failed while its claim did not commit")
            self.drop()
        self.abandon()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()  # waits for a begin() still running before the connection goes
            self._pool = None
        self.close()

    def abandon(self) -> None:
        """Drop a transaction begun but not finished: the connection goes, the relay discards it."""
        if self.in_data:
            self.drop()

    @contextlib.contextmanager
    def _down_on_failure(self):
        try:
            yield
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, smtplib.SMTPHeloError,
                smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError, OSError) as exc:
            self.close()
            self.down = outcomes.classify_exception(exc)
            raise RelayDown(self.down) from exc

    def close(self) -> None:
        if self.connection is not None:
            if self.in_data:  # a QUIT now would be read as content: just drop the connection
                self.drop()
                return
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None
