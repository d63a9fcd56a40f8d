"""The mailbox simulator of SPEC §4.4, every row of its table. Pure: no database."""

import pytest

from core.addresses import is_simulator_address
from sending.outcomes import BOUNCED, DELIVERED, INVALID, SPAM, classify_reply
from sending.simulator import simulated_outcome

DOMAIN = "simulator.sesconsole.invalid"

# local part: (kind, code, enhanced, hard, follow-up events in order)
TABLE = [
    ("success", DELIVERED, 250, "2.0.0", False, ()),
    ("bounce", INVALID, 550, "5.1.1", True, ()),
    ("spam", SPAM, 554, "5.7.1", True, ()),
    ("softbounce", BOUNCED, 452, "4.2.2", True, ()),
    ("complaint", DELIVERED, 250, "2.0.0", False, ("complaint",)),
    ("open", DELIVERED, 250, "2.0.0", False, ("opened",)),
    ("click", DELIVERED, 250, "2.0.0", False, ("opened", "clicked")),
    ("unsubscribe", DELIVERED, 250, "2.0.0", False, ("unsubscribed",)),
]


@pytest.mark.parametrize(
    ("local", "kind", "code", "enhanced", "hard", "events"), TABLE, ids=[r[0] for r in TABLE]
)
def test_each_simulator_mailbox_produces_its_outcome(local, kind, code, enhanced, hard, events):
    outcome = simulated_outcome(f"{local}@{DOMAIN}", DOMAIN)

    assert outcome.mailbox == local
    assert (outcome.kind, outcome.code, outcome.enhanced, outcome.reply.hard) == (kind, code, enhanced, hard)
    assert outcome.events == events
    assert outcome.text


@pytest.mark.parametrize("local", ["success", "bounce", "spam", "complaint", "click"])
def test_a_simulated_reply_classifies_like_a_real_one(local):
    outcome = simulated_outcome(f"{local}@{DOMAIN}", DOMAIN)

    assert classify_reply(outcome.code, outcome.text, outcome.enhanced) == outcome.reply


def test_a_soft_bounce_is_final_at_once_as_if_its_retries_ran_out():
    outcome = simulated_outcome(f"softbounce@{DOMAIN}", DOMAIN)

    assert classify_reply(outcome.code, outcome.text).kind == "retry"  # what a real 452 would be
    assert outcome.reply.final
    assert "Mailbox full" in outcome.text


@pytest.mark.parametrize(
    "address",
    [
        "bounce+17@simulator.sesconsole.invalid",
        "bounce+a+b@simulator.sesconsole.invalid",
        "bounce+@simulator.sesconsole.invalid",
    ],
)
def test_a_plus_suffix_makes_addresses_distinct_with_the_same_outcome(address):
    outcome = simulated_outcome(address, DOMAIN)

    assert (outcome.mailbox, outcome.kind, outcome.enhanced) == ("bounce", INVALID, "5.1.1")


@pytest.mark.parametrize(
    "address",
    [
        "Click@Simulator.SESConsole.Invalid",
        "CLICK+Campaign7@SIMULATOR.SESCONSOLE.INVALID",
        " <click@simulator.sesconsole.invalid.> ",
    ],
)
def test_case_brackets_and_a_trailing_dot_do_not_matter(address):
    outcome = simulated_outcome(address, DOMAIN)

    assert (outcome.mailbox, outcome.events) == ("click", ("opened", "clicked"))


def test_the_simulator_domain_setting_may_be_given_in_any_case():
    assert simulated_outcome("open@simulator.sesconsole.invalid", "Simulator.SESConsole.Invalid").events == (
        "opened",
    )


@pytest.mark.parametrize("local", ["nobody", "bounces", "succes", "", "+success"])
def test_an_unknown_simulator_mailbox_is_an_invalid_address(local):
    outcome = simulated_outcome(f"{local}@{DOMAIN}", DOMAIN)

    assert (outcome.mailbox, outcome.kind, outcome.code, outcome.enhanced) == ("", INVALID, 550, "5.1.1")
    assert outcome.events == ()
    assert "No such simulator mailbox" in outcome.text


@pytest.mark.parametrize(
    "address",
    [
        "success@example.com",
        "bounce@gmail.com",
        "success@sub.simulator.sesconsole.invalid",
        "success@simulator.sesconsole.invalid.example.com",
        "success@notsimulator.sesconsole.invalid",
        "success",
        "",
    ],
)
def test_other_addresses_are_not_simulated(address):
    assert simulated_outcome(address, DOMAIN) is None
    assert not is_simulator_address(address, DOMAIN)


def test_simulator_addresses_are_recognised_for_the_blacklist_rule():
    assert is_simulator_address(f"bounce+3@{DOMAIN}", DOMAIN)
    assert is_simulator_address(f"Whatever@{DOMAIN.upper()}", DOMAIN)
