"""Reputation levels end to end: SendEmail through the signed API, delivery by the worker's code,
outcomes from the mailbox simulator, and the day closed by the scheduler's job (SPEC §3, §4.4).

Nothing here writes counters by hand: every number comes from mail sent to simulator mailboxes.
"""

import datetime as dt
import io
import json

import pytest
import time_machine

from domains.models import LevelChange, SenderDomain
from domains.reputation.services import close_due_days, get_day
from domains.services import create_domain
from sending.delivery import deliver_messages
from sending.models import Message
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER

sender = send_fixtures.sender
template = send_fixtures.template

# These tests rehearse the rules with simulator mail, so it counts for reputation here (as in the
# demo); with the default (it does not count) see test_simulator_reputation.py.
pytestmark = pytest.mark.usefixtures("simulator_counts")

SIM = "simulator.sesconsole.invalid"
NOON = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DATA = json.dumps({"name": "Ann", "code": "4711"})


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


class Mailer:
    """Sends to simulator mailboxes through the API in calls of at most 50, then delivers the queue."""

    def __init__(self, api, template):
        self.api = api
        self.template = template
        self.serial = 0

    def send(self, **mailboxes: int) -> dict:
        recipients = []
        for mailbox, count in mailboxes.items():
            for _ in range(count):
                self.serial += 1
                recipients.append(f"{mailbox}+{self.serial}@{SIM}")
        last = {}
        for start in range(0, len(recipients), 50):
            last = self.api(
                "SendEmail",
                {
                    "FromEmailAddress": f"Alice News <{SENDER}>",
                    "Destination": recipients[start : start + 50],
                    "Template": {"TemplateID": self.template.pk, "TemplateData": DATA},
                },
            )
            if "Error" in last:
                return last
            self.deliver()
        return last

    def deliver(self):
        deliver_messages(list(Message.objects.filter(status=Message.QUEUED).values_list("pk", flat=True)))


@pytest.fixture
def mail(api, sender, template):
    return Mailer(api, template)


def level_of(domain) -> int:
    return SenderDomain.objects.get(pk=domain.pk).level


def test_an_upgrade_happens_at_exactly_70_percent_of_the_cap(mail, verified_domain):
    mail.send(success=349)
    assert level_of(verified_domain) == 1
    mail.send(success=1)
    assert level_of(verified_domain) == 2
    change = LevelChange.objects.get()
    assert (change.rule, change.metrics["sent"], change.metrics["sent_of_cap"]) == ("U1", "350", "70.00")
    assert get_day(verified_domain).cap == 1000


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"bounce": 18}, "invalid 5.14% is not < 5% (and no opens for U2)"),
        ({"softbounce": 29}, "delivery 91.71% is not > 92%"),
        ({"spam": 9}, "spam 2.57% is not < 2.5%"),
        ({"complaint": 1}, "complaints 0.29% of delivered are not < 0.1%"),
    ],
)
def test_each_quality_rule_blocks_the_upgrade(mail, verified_domain, bad, why):
    mail.send(**bad)  # the bad outcomes first, so no moment of the day looks good
    mail.send(success=350 - sum(bad.values()))
    assert get_day(verified_domain).sent == 350
    assert level_of(verified_domain) == 1, why


def test_u2_lifts_a_domain_with_some_invalid_addresses_when_half_its_mail_is_opened(mail, verified_domain):
    mail.send(bounce=18)
    mail.send(open=200, success=132)
    assert level_of(verified_domain) == 2
    assert LevelChange.objects.get().rule == "U2"


def test_several_upgrades_in_one_day(mail, verified_domain):
    mail.send(success=1400)
    assert level_of(verified_domain) == 4
    assert [c.to_level for c in LevelChange.objects.order_by("id")] == [2, 3, 4]
    assert get_day(verified_domain).cap == 5000


def test_a_send_past_the_cap_is_refused_with_nothing_counted(mail, verified_domain):
    mail.send(complaint=3, success=497)  # complaints keep it at level 1
    assert get_day(verified_domain).sent == 500
    messages = Message.objects.count()

    refused = mail.send(success=1)

    assert refused["Error"]["Code"] == "FailedOperation.ExceedSendLimit"
    assert get_day(verified_domain).sent == 500
    assert Message.objects.count() == messages
    assert level_of(verified_domain) == 1


def test_a_freeze_refuses_the_next_send_on_every_domain_and_is_gone_the_next_day(
    mail, api, account, verified_domain, clock
):
    other = create_domain(account, "news.alice.example")
    SenderDomain.objects.filter(pk=other.pk).update(status=SenderDomain.VERIFIED)
    from sending.services import create_sender_address

    create_sender_address(account, "hello@news.alice.example")

    mail.send(bounce=34)
    mail.send(success=266)
    assert not account.is_frozen()  # 300 sent is not > 300
    mail.send(success=1)
    assert account.is_frozen()  # 301 sent, 34 invalid = 11.3% > 11%

    refused = mail.send(success=1)
    assert refused["Error"]["Code"] == "FailedOperation.HighRejectionRate"
    other_domain = api(
        "SendEmail",
        {
            "FromEmailAddress": "hello@news.alice.example",
            "Destination": [f"success@{SIM}"],
            "Template": {"TemplateID": mail.template.pk, "TemplateData": DATA},
        },
    )
    assert other_domain["Error"]["Code"] == "FailedOperation.HighRejectionRate"

    clock.move_to(NOON + dt.timedelta(days=1))
    assert "Error" not in mail.send(success=1)


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ({"bounce": 31}, "D1"),  # invalid 10% > 9% (and not > 11%: no freeze)
        ({"softbounce": 109}, "D2"),  # delivery 64.84% < 65%
        ({"spam": 16}, "D3"),  # spam 5.16% > 5%
        ({"complaint": 2}, "D4"),  # complaints 0.65% of delivered > 0.5%
    ],
)
def test_a_bad_day_downgrades_the_next_day_for_each_rule(mail, verified_domain, clock, bad, rule):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=3)
    mail.send(**bad)
    mail.send(success=310 - sum(bad.values()))
    assert level_of(verified_domain) == 3  # a downgrade waits for the day to close

    clock.move_to(NOON + dt.timedelta(hours=12, minutes=5))  # just after midnight
    close_due_days()

    assert level_of(verified_domain) == 2
    change = LevelChange.objects.get()
    assert (change.rule, change.from_level, change.to_level) == (rule, 3, 2)
    assert change.effective_at == dt.datetime(2026, 6, 2, tzinfo=dt.UTC)
    assert get_day(SenderDomain.objects.get(pk=verified_domain.pk)).cap == 1000


def test_the_simulator_moves_a_domain_up_and_down_over_several_days(mail, verified_domain, clock):
    """Three simulated days, closed by the scheduler's own `tick`: up, a bad day, down, up again."""
    from django.core.management import call_command

    levels_seen = []

    def end_of_day_then_tick():
        clock.move_to(clock_now() + dt.timedelta(days=1))
        call_command("tick", stdout=io.StringIO())
        levels_seen.append(level_of(verified_domain))

    def clock_now():
        return NOON + dt.timedelta(days=len(levels_seen))

    mail.send(success=700)  # day 1: 350 → level 2, 700 → level 3
    assert level_of(verified_domain) == 3
    end_of_day_then_tick()

    mail.send(spam=16)  # day 2: 16 spam of 310 = 5.16%: D3 when the day closes
    mail.send(success=294)
    assert level_of(verified_domain) == 3
    end_of_day_then_tick()

    mail.send(success=700)  # day 3 at level 2 (cap 1,000): 700 → level 3 again
    end_of_day_then_tick()

    history = [(c.day.isoformat(), c.from_level, c.to_level, c.rule) for c in LevelChange.objects.order_by("at", "id")]
    assert history == [
        ("2026-06-01", 1, 2, "U1"),
        ("2026-06-01", 2, 3, "U1"),
        ("2026-06-02", 3, 2, "D3"),
        ("2026-06-03", 2, 3, "U1"),
    ]
    assert levels_seen == [3, 2, 3]
