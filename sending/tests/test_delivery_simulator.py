"""Simulator recipients never leave the platform; with SES_SIMULATOR_COUNTS_FOR_REPUTATION on they
count exactly like real mail, off (the default) only against the cap, shown apart (SPEC §4.4)."""

from __future__ import annotations

import pytest

from domains.models import DailyVolume, DomainDay
from sending.delivery import deliver_messages
from sending.models import Message, Suppression
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send

SIM = "simulator.sesconsole.invalid"


NAMES = ("sent", "delivered", "invalid", "spam", "bounced", "complaints", "opened", "clicked", "unsubscribed")


def counters(domain) -> dict:
    row = DomainDay.objects.get(domain=domain)
    return {n: getattr(row, n) for n in (*NAMES, "simulated") if getattr(row, n)}


OUTCOMES = pytest.mark.parametrize(
    "local, status, outcome, counted",
    [
        ("success", Message.DELIVERED, "delivered", {"delivered": 1}),
        ("bounce", Message.BOUNCED, "invalid", {"invalid": 1}),
        ("spam", Message.BOUNCED, "spam", {"spam": 1}),
        ("softbounce", Message.BOUNCED, "bounced", {"bounced": 1}),
        ("complaint", Message.DELIVERED, "delivered", {"delivered": 1, "complaints": 1}),
        ("open", Message.DELIVERED, "delivered", {"delivered": 1, "opened": 1}),
        ("click", Message.DELIVERED, "delivered", {"delivered": 1, "opened": 1, "clicked": 1}),
        ("unsubscribe", Message.DELIVERED, "delivered", {"delivered": 1, "unsubscribed": 1}),
    ],
)


@OUTCOMES
def test_each_simulator_mailbox_produces_its_outcome_without_reaching_the_relay(
    smtp_sink, sender, template, account, verified_domain, local, status, outcome, counted,  # noqa: F811
    simulator_counts,
):
    [message] = send(account, template, f"{local}+7@{SIM}")

    deliver_messages([message.pk])

    message.refresh_from_db()
    assert (message.status, message.outcome) == (status, outcome)
    assert counters(verified_domain) == {"sent": 1, **counted}
    assert smtp_sink.received == [] and smtp_sink.connections == 0


@OUTCOMES
def test_by_default_each_simulator_outcome_is_counted_apart_and_never_for_reputation(
    smtp_sink, sender, template, account, verified_domain, local, status, outcome, counted  # noqa: F811
):
    [message] = send(account, template, f"{local}+7@{SIM}")

    deliver_messages([message.pk])

    message.refresh_from_db()
    assert (message.status, message.outcome, message.mailbox_type) == (status, outcome, "simulator")
    # The cap counts it; the rules see none of it (sent - simulated = 0, no outcome).
    assert counters(verified_domain) == {"sent": 1, "simulated": 1}
    apart = DailyVolume.objects.get(domain=verified_domain, mailbox_type="simulator")
    assert {n: getattr(apart, n) for n in NAMES if getattr(apart, n)} == {"sent": 1, **counted}
    assert smtp_sink.received == [] and smtp_sink.connections == 0


def test_simulated_mail_counts_exactly_like_the_same_replies_from_a_real_server(
    smtp_sink, sender, template, account, verified_domain, simulator_counts  # noqa: F811
):
    from tests.smtpsink import SPAM, USER_UNKNOWN

    smtp_sink.reply("nobody", USER_UNKNOWN)
    smtp_sink.reply("filtered", SPAM)
    real = send(account, template, "ok@example.org", "nobody@example.org", "filtered@example.org")
    deliver_messages([m.pk for m in real])
    real_counters = counters(verified_domain)
    DomainDay.objects.all().delete()

    simulated = send(account, template, f"success@{SIM}", f"bounce@{SIM}", f"spam@{SIM}")
    deliver_messages([m.pk for m in simulated])

    assert counters(verified_domain) == real_counters == {"sent": 3, "delivered": 1, "invalid": 1, "spam": 1}


def test_a_simulator_bounce_never_blacklists_the_address(smtp_sink, sender, template, account):  # noqa: F811
    [message] = send(account, template, f"bounce@{SIM}")

    deliver_messages([message.pk])

    assert not Suppression.objects.filter(account=account, reason=Suppression.BLACKLIST).exists()
    [message] = send(account, template, f"bounce@{SIM}")  # and may be sent to again
    assert message.status == Message.QUEUED


def test_a_batch_mixing_simulator_and_real_recipients_opens_one_connection(
    smtp_sink, sender, template, account  # noqa: F811
):
    messages = send(account, template, f"success@{SIM}", "a@example.org", f"open@{SIM}", "b@example.org")

    deliver_messages([m.pk for m in messages])

    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == ["a@example.org", "b@example.org"]
    assert smtp_sink.connections == 1
    assert Message.objects.filter(status=Message.DELIVERED).count() == 4


def test_with_the_simulator_switched_off_its_addresses_go_to_the_relay(
    smtp_sink, sender, template, account, settings  # noqa: F811
):
    settings.SES_SIMULATOR_ENABLED = False
    [message] = send(account, template, f"success@{SIM}")

    deliver_messages([message.pk])

    assert [r.rcpt_tos for r in smtp_sink.received] == [(f"success@{SIM}",)]
