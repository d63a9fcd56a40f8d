"""Simulator mail never changes reputation on a real platform (SPEC §4.4, issue 12 findings 1 and 2).

With SES_SIMULATOR_COUNTS_FOR_REPUTATION off (the default) mail to the mailbox simulator counts
against the daily cap and nowhere else: not in a rate, not toward the upgrade volume, not in the
freeze or downgrade totals; statistics show it apart, as the mailbox type "simulator". With it on
(the demo, rehearsals) it counts exactly like real mail. Everything goes through the signed API,
delivery by the worker's code and, for real recipients, a real SMTP server answering per recipient.
"""

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import time_machine

from accounts.models import AccountFreeze
from domains.models import DomainDay, LevelChange, SenderDomain
from domains.reputation.services import close_due_days, get_day
from sending.delivery import deliver_messages
from sending.models import Message
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER
from tests.smtpsink import USER_UNKNOWN

sender = send_fixtures.sender
template = send_fixtures.template

SIM = "simulator.sesconsole.invalid"
NOON = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
TODAY = NOON.date()
AFTER_MIDNIGHT = NOON + dt.timedelta(hours=12, minutes=5)
DATA = json.dumps({"name": "Ann", "code": "4711"})
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ON_AND_OFF = pytest.mark.parametrize("counts", [False, True], ids=["setting off", "setting on"])


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


class Mailer:
    """SendEmail through the signed API in calls of at most 50 recipients, each call then delivered."""

    def __init__(self, api, template):
        self.api = api
        self.template = template
        self.serial = 0

    def simulator(self, **mailboxes: int) -> dict:
        recipients = []
        for mailbox, count in mailboxes.items():
            for _ in range(count):
                self.serial += 1
                recipients.append(f"{mailbox}+{self.serial}@{SIM}")
        return self.send(recipients)

    def send(self, recipients: list[str]) -> dict:
        last = {}
        for start in range(0, len(recipients), 50):
            last = self.call(recipients[start : start + 50])
            if "Error" in last:
                return last
            deliver_messages(list(Message.objects.filter(status=Message.QUEUED).values_list("pk", flat=True)))
        return last

    def call(self, recipients: list[str]) -> dict:
        return self.api("SendEmail", {
            "FromEmailAddress": f"Alice News <{SENDER}>",
            "Destination": recipients,
            "Template": {"TemplateID": self.template.pk, "TemplateData": DATA},
        })


@pytest.fixture
def mail(api, sender, template):
    return Mailer(api, template)


def level_of(domain) -> int:
    return SenderDomain.objects.get(pk=domain.pk).level


def report(api, **filters) -> dict:
    response = api("GetStatisticsReport", {"StartDate": TODAY.isoformat(), "EndDate": TODAY.isoformat(), **filters})
    return {k: v for k, v in response["OverallVolume"].items() if k != "SendDate"}


def pump_the_whole_cap(mail) -> None:
    """Finding 1: a whole day's cap of simulator mail that all goes well: delivered, half opened."""
    assert "Error" not in mail.simulator(success=250, open=250)
    assert Message.objects.filter(status=Message.DELIVERED).count() == 500
    assert Message.objects.exclude(opened_at=None).count() == 250


def test_a_domain_sending_only_simulator_mail_all_day_stays_at_level_1(mail, api, verified_domain, clock):
    pump_the_whole_cap(mail)

    assert level_of(verified_domain) == 1
    assert not LevelChange.objects.exists()
    # The cap counted every message: simulator mail is no free load.
    row = get_day(verified_domain)
    assert (row.sent, row.simulated, row.cap) == (500, 500, 500)
    for refused in (mail.simulator(success=1), mail.send(["reader@example.org"])):
        assert refused["Error"]["Code"] == "FailedOperation.ExceedSendLimit"
    assert Message.objects.count() == 500

    # Statistics show it apart, and the rules' figures (no filter) hold none of it.
    assert report(api, ReceivingMailboxType="simulator") == {
        "RequestCount": 500, "AcceptedCount": 500, "DeliveredCount": 500, "OpenedCount": 250,
        "ClickedCount": 0, "BounceCount": 0, "UnsubscribeCount": 0,
    }
    assert report(api)["AcceptedCount"] == report(api, Domain=verified_domain.name)["AcceptedCount"] == 0

    clock.move_to(AFTER_MIDNIGHT)  # the day closes: still level 1, and the new day's cap is 500 again
    close_due_days()
    assert level_of(verified_domain) == 1
    assert get_day(SenderDomain.objects.get(pk=verified_domain.pk)).cap == 500


def test_with_the_setting_on_the_same_simulator_mail_upgrades_the_domain(
    mail, verified_domain, simulator_counts
):
    pump_the_whole_cap(mail)

    assert level_of(verified_domain) == 2
    change = LevelChange.objects.get()
    assert (change.rule, change.metrics["sent"]) == ("U1", "350")
    assert get_day(verified_domain).cap == 1000
    assert "Error" not in mail.simulator(success=1)


@ON_AND_OFF
def test_simulator_bounces_freeze_and_downgrade_only_when_the_setting_is_on(
    mail, account, verified_domain, clock, settings, counts
):
    settings.SES_SIMULATOR_COUNTS_FOR_REPUTATION = counts
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=3)
    mail.simulator(bounce=40)
    mail.simulator(success=270)  # 40 invalid of 310: 12.9%, past F1's 11% and D1's 9%

    freeze = AccountFreeze.objects.filter(account=account).first()
    assert (freeze.rule if freeze else None) == ("F1" if counts else None)
    clock.move_to(AFTER_MIDNIGHT)
    close_due_days()
    assert level_of(verified_domain) == (2 if counts else 3)
    assert list(LevelChange.objects.values_list("rule", flat=True)) == (["D1"] if counts else [])


@ON_AND_OFF
def test_simulator_successes_dilute_a_real_bad_list_only_when_the_setting_is_on(
    mail, account, verified_domain, smtp_sink, clock, settings, counts
):
    """Finding 2: real bounces from a real relay, hidden among simulated successes."""
    settings.SES_SIMULATOR_COUNTS_FOR_REPUTATION = counts
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=3)  # cap 2,000
    gone = [f"gone{n}@example.org" for n in range(40)]
    for address in gone:
        smtp_sink.reply(address, USER_UNKNOWN)
    readers = [f"reader{n}@example.org" for n in range(270)]

    assert "Error" not in mail.simulator(success=400)
    assert "Error" not in mail.send(gone)
    assert Message.objects.filter(recipient__in=gone, outcome="invalid").count() == 40  # the relay's 550 5.1.1
    mail.send(readers)  # 40 invalid of 310 real: 12.9%; of 710 with the simulator's: 5.63%

    freeze = AccountFreeze.objects.filter(account=account).first()
    if counts:
        assert freeze is None
        assert Message.objects.filter(recipient__in=readers, status=Message.DELIVERED).count() == 270
    else:
        # F1 fired on the real mail alone: its figures do not include a single simulated message.
        assert (freeze.rule, freeze.metrics["sent"], freeze.metrics["invalid_rate"]) == ("F1", "310", "12.90")
        refused = mail.send(["late@example.org"])
        assert refused["Error"]["Code"] == "FailedOperation.HighRejectionRate"

    clock.move_to(AFTER_MIDNIGHT)
    close_due_days()
    assert level_of(verified_domain) == (3 if counts else 2)  # D1 (invalid > 9%) on the real mail alone
    assert list(LevelChange.objects.values_list("rule", flat=True)) == ([] if counts else ["D1"])


def test_a_message_counts_as_the_setting_was_when_it_was_sent_even_if_it_changes_before_delivery(
    mail, verified_domain, settings
):
    settings.SES_SIMULATOR_COUNTS_FOR_REPUTATION = True
    assert "Error" not in mail.call([f"success+{n}@{SIM}" for n in range(3)])
    settings.SES_SIMULATOR_COUNTS_FOR_REPUTATION = False
    assert "Error" not in mail.call([f"bounce+{n}@{SIM}" for n in range(2)])
    settings.SES_SIMULATOR_COUNTS_FOR_REPUTATION = True  # changed again before any delivery
    deliver_messages(list(Message.objects.values_list("pk", flat=True)))

    row = DomainDay.objects.get(domain=verified_domain)
    # The three sent while it counted are counted, with their outcomes; the two others only by the cap.
    assert (row.sent, row.simulated, row.delivered, row.invalid) == (5, 2, 3, 0)


@pytest.mark.parametrize(("value", "read"), [(None, "False"), ("0", "False"), ("1", "True"), ("yes please", None)])
def test_the_setting_is_read_from_the_environment_off_by_default_and_nonsense_stops_the_process(value, read):
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "PYTHONPATH") if name in os.environ}
    if value is not None:
        env["SES_SIMULATOR_COUNTS_FOR_REPUTATION"] = value
    result = subprocess.run(
        [sys.executable, "-c", "import sesconsole.settings as s; print(s.SES_SIMULATOR_COUNTS_FOR_REPUTATION)"],
        env=env, capture_output=True, text=True, cwd=ROOT,
    )
    if read is None:
        assert result.returncode != 0
        assert "SES_SIMULATOR_COUNTS_FOR_REPUTATION must be a boolean" in result.stderr
    else:
        assert (result.returncode, result.stdout.strip()) == (0, read), result.stderr
