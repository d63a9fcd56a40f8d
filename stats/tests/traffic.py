"""Known simulator traffic for the statistics tests: every number comes from mail actually sent.

Test modules import the fixtures by name (pytest finds fixtures in a module's namespace).

19 messages on TODAY from mail.alice.example to simulator mailboxes:
10 success, 2 bounce (invalid), 1 spam, 3 open, 1 click (opens too), 1 unsubscribe, 1 complaint.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from domains.models import DailyVolume
from domains.reputation import rollups
from sending import services
from sending.delivery import deliver_messages
from sending.models import Message
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER

sender = send_fixtures.sender
template = send_fixtures.template

SIM = "simulator.sesconsole.invalid"
TODAY = dt.date(2026, 6, 1)
NOON = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
MAILBOXES = {"success": 10, "bounce": 2, "spam": 1, "open": 3, "click": 1, "unsubscribe": 1, "complaint": 1}
# What those 19 messages must add up to.
EXPECTED = {
    "requested": 19, "accepted": 19, "delivered": 16, "opened": 4, "clicked": 1, "bounced": 0,
    "unsubscribed": 1, "invalid": 2, "spam": 1, "complaints": 1,
}
EXPECTED_VOLUME = {
    "RequestCount": 19, "AcceptedCount": 19, "DeliveredCount": 16, "OpenedCount": 4, "ClickedCount": 1,
    "BounceCount": 3, "UnsubscribeCount": 1,
}
ZERO_VOLUME = dict.fromkeys(EXPECTED_VOLUME, 0)


@pytest.fixture
def clock():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def send_to_simulator(account, template, mailboxes: dict[str, int]) -> None:
    recipients = [f"{box}+{n}@{SIM}" for box, count in mailboxes.items() for n in range(count)]
    for start in range(0, len(recipients), 50):
        services.send_email(
            account, from_address=SENDER, destinations=recipients[start : start + 50], template_id=template.pk,
            template_data=json.dumps({"name": "Ann", "code": "4711"}),
        )
    deliver_messages(list(Message.objects.filter(status=Message.QUEUED).values_list("pk", flat=True)))


@pytest.fixture
def known_traffic(simulator_counts, clock, account, sender, template, verified_domain):
    # Simulator mail counting for reputation, as in the demo: here it stands for real traffic.
    send_to_simulator(account, template, MAILBOXES)
    return verified_domain


def volume(account, domain, mailbox_type: str, day: dt.date, **counters) -> DailyVolume:
    """Counters added as outcomes add them (DailyVolume and the account's rollups), without sending:
    for filter and range tests that need other domains, types and days."""
    assert domain.account_id == account.pk
    rollups.add_volume(domain, day, {mailbox_type: counters})
    return DailyVolume.objects.get(domain=domain, mailbox_type=mailbox_type, day=day)
