"""The mailbox simulator of SPEC §4.4, as a pure function.

Recipients at the simulator domain never leave the platform. The delivery worker asks
`simulated_outcome(address, settings.SES_SIMULATOR_DOMAIN)` before it opens an SMTP connection;
a result means: record `reply` as if the relay had answered it (through the same path as a real
reply, so simulated mail counts exactly like real mail), then record each of `events` in order.
Honouring `SES_SIMULATOR_ENABLED` and never blacklisting simulator addresses is the caller's job
(`is_simulator_address`).

Only the exact simulator domain counts (case-insensitive, a trailing dot ignored); a subdomain of
it is an ordinary address. A local part the table does not know is treated like a mailbox that
does not exist, with its own text, so a typo in a rehearsal shows up as invalid rather than
silently as delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.addresses import is_simulator_address
from sending import outcomes

# Follow-up events, named like the counters in domains.reputation.services.OUTCOME_COUNTERS.
COMPLAINT = "complaint"
OPENED = "opened"
CLICKED = "clicked"
UNSUBSCRIBED = "unsubscribed"

# local part: (reply code, enhanced status, reply text, retries ran out, follow-up events)
TABLE: dict[str, tuple[int, str, str, bool, tuple[str, ...]]] = {
    "success": (250, "2.0.0", "Message accepted by the mailbox simulator", False, ()),
    "bounce": (550, "5.1.1", "The mailbox does not exist (mailbox simulator)", False, ()),
    "spam": (554, "5.7.1", "Message rejected as spam (mailbox simulator)", False, ()),
    "softbounce": (452, "4.2.2", "Mailbox full (mailbox simulator); retries ran out", True, ()),
    "complaint": (250, "2.0.0", "Message accepted by the mailbox simulator", False, (COMPLAINT,)),
    "open": (250, "2.0.0", "Message accepted by the mailbox simulator", False, (OPENED,)),
    "click": (250, "2.0.0", "Message accepted by the mailbox simulator", False, (OPENED, CLICKED)),
    "unsubscribe": (250, "2.0.0", "Message accepted by the mailbox simulator", False, (UNSUBSCRIBED,)),
}
UNKNOWN_MAILBOX = (550, "5.1.1", "No such simulator mailbox; use one of: " + ", ".join(TABLE), False, ())


@dataclass(frozen=True)
class SimulatedOutcome:
    """The simulated SMTP reply to one recipient and what the recipient does afterwards."""

    mailbox: str  # the local part that chose the outcome, without its +suffix; "" if unknown
    reply: outcomes.Outcome
    events: tuple[str, ...]

    @property
    def kind(self) -> str:
        return self.reply.kind

    @property
    def code(self) -> int | None:
        return self.reply.code

    @property
    def enhanced(self) -> str | None:
        return self.reply.enhanced

    @property
    def text(self) -> str:
        return self.reply.text


def _split(address: str) -> tuple[str, str] | None:
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return None
    return local.lower(), domain.lower().rstrip(".")


def simulated_outcome(address: str, simulator_domain: str) -> SimulatedOutcome | None:
    """The fixed outcome of a simulator recipient; None for every other address."""
    if not is_simulator_address(address, simulator_domain):
        return None
    local, _ = _split(address)
    mailbox = local.split("+", 1)[0]
    known = mailbox in TABLE
    code, enhanced, text, retries_ran_out, events = TABLE[mailbox] if known else UNKNOWN_MAILBOX
    reply = outcomes.classify_reply(code, text, enhanced=enhanced)
    if retries_ran_out:
        # The simulator does not wait out the backoff: the final state arrives at once (SPEC §4.4).
        reply = outcomes.give_up(reply)
    return SimulatedOutcome(mailbox=mailbox if known else "", reply=reply, events=events)
