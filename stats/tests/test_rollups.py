"""The per-account rollups (AccountDay, AccountMailboxDay) always equal the sums of DailyVolume.

Traffic here is real: messages sent through sending.services.send_email, simulator replies
delivered by the delivery worker, and outcomes of other recipients recorded by the same service
the SMTP relay and the bounce handler call (sending.recording.record_event), including late
bounces and follow-ups that arrive after the day of sending has ended.
"""

import datetime as dt
import json

import pytest
import time_machine
from django.db.models import Sum

from domains.models import AccountDay, AccountMailboxDay, DailyVolume, DomainDay
from domains.reputation import rollups
from domains.reputation.rules import SIMULATOR_MAILBOX
from domains.services import create_domain, delete_domain
from sending import services
from sending.models import Message
from sending.recording import record_event
from stats import queries
from stats.tests import traffic
from stats.tests.traffic import EXPECTED, NOON, SIM, TODAY

clock = traffic.clock
sender = traffic.sender
template = traffic.template
known_traffic = traffic.known_traffic

COUNTERS = DailyVolume.COUNTERS
YESTERDAY = TODAY - dt.timedelta(days=1)


def _counts(row) -> dict[str, int]:
    return {name: int(row[name] or 0) for name in COUNTERS}


def _nonzero(rows, keys) -> dict[tuple, dict[str, int]]:
    # A row of zeros reads as no row (a day without traffic): both sides leave them out.
    counted = {tuple(row[k] for k in keys): _counts(row) for row in rows}
    return {key: counts for key, counts in counted.items() if any(counts.values())}


def volume_sums(account, *keys, counted_only: bool = False) -> dict[tuple, dict[str, int]]:
    """DailyVolume summed by `keys`, the way a rollup must hold it (`counted_only`: without the mail
    that does not count for reputation, as AccountDay)."""
    rows = DailyVolume.objects.filter(account=account)
    if counted_only:
        rows = rows.exclude(mailbox_type=SIMULATOR_MAILBOX)
    rows = rows.values(*keys).annotate(**{n: Sum(n) for n in COUNTERS})
    return _nonzero(rows.order_by(), keys)


def rollup(model, account, *keys) -> dict[tuple, dict[str, int]]:
    return _nonzero(model.objects.filter(account=account).values(), keys)


def assert_rollups_match(account) -> None:
    assert rollup(AccountDay, account, "day") == volume_sums(account, "day", counted_only=True)
    assert rollup(AccountMailboxDay, account, "mailbox_type", "day") == volume_sums(account, "mailbox_type", "day")


def send(account, template, recipients: list[str]) -> list[Message]:
    result = services.send_email(
        account, from_address=traffic.SENDER, destinations=recipients, template_id=template.pk,
        template_data=json.dumps({"name": "Ann", "code": "4711"}),
    )
    assert result is not None
    messages = list(Message.objects.filter(recipient__in=recipients).order_by("pk"))
    assert len(messages) == len(recipients)
    return messages


def test_simulator_traffic_adds_up_in_both_rollups(known_traffic, account):
    assert_rollups_match(account)
    day = AccountDay.objects.get(account=account, day=TODAY)
    expected = {"requested": 19, "sent": 19, "delivered": 16, "opened": 4, "clicked": 1, "bounced": 0,
                "unsubscribed": 1, "invalid": 2, "spam": 1, "complaints": 1}
    assert _counts(AccountDay.objects.filter(pk=day.pk).values().get()) == expected
    assert queries.overall(account, TODAY, TODAY).as_dict() == EXPECTED
    assert queries.overall(account, TODAY, TODAY, mailbox_type=SIM).as_dict() == EXPECTED
    # The domain's day row (the quota row) agrees with the account's: one domain, the same traffic.
    domain_day = DomainDay.objects.filter(domain=known_traffic, day=TODAY).values(*COUNTERS).get()
    assert _counts(domain_day) == expected


def test_several_mailbox_types_domains_late_bounces_and_a_day_boundary(clock, account, sender, template,
                                                                       verified_domain, simulator_counts):
    second = create_domain(account, "news.alice.example")
    second.status = second.VERIFIED
    second.save(update_fields=["status"])
    services.create_sender_address(account, "hello@news.alice.example", "Alice Hello")

    # Yesterday: simulator traffic and mail to gmail.com and qq.com, delivered or bounced by the relay.
    clock.move_to(NOON - dt.timedelta(days=1))
    traffic.send_to_simulator(account, template, {"success": 3, "bounce": 1, "open": 2})
    gmail = send(account, template, ["ann@gmail.com", "bob@gmail.com", "cy@gmail.com"])
    qq = send(account, template, ["li@qq.com", "wu@qq.com"])
    for message in gmail + qq[:1]:
        assert record_event(message, "delivered", {"reply": "250 OK"})
    assert record_event(qq[1], "invalid", {"reply": "550 5.1.1 no such user"})
    services.send_email(
        account, from_address="hello@news.alice.example", destinations=["dee@gmail.com"],
        template_id=template.pk, template_data=json.dumps({"name": "Dee", "code": "1"}),
    )
    other_domain = Message.objects.get(recipient="dee@gmail.com")
    assert record_event(other_domain, "delivered", {"reply": "250 OK"})
    assert_rollups_match(account)

    # Today: new traffic, and yesterday's messages still have things happen to them.
    clock.move_to(NOON)
    today_gmail = send(account, template, ["eve@gmail.com"])
    assert record_event(today_gmail[0], "delivered", {"reply": "250 OK"})
    assert record_event(gmail[0], "invalid", {"reply": "550 5.1.1 late: mailbox gone"})  # a late bounce
    assert record_event(gmail[1], "opened")  # a follow-up a day late
    assert record_event(gmail[2], "complaint")
    assert not record_event(gmail[2], "complaint")  # counted once
    assert record_event(other_domain, "spam", {"reply": "550 5.7.1 spam"})
    assert_rollups_match(account)

    # Each outcome was counted on the day the message was sent, in every table alike.
    y_gmail = queries.overall(account, YESTERDAY, YESTERDAY, mailbox_type="gmail.com")
    assert (y_gmail.requested, y_gmail.accepted, y_gmail.delivered, y_gmail.invalid, y_gmail.spam) == (4, 4, 2, 1, 1)
    assert (y_gmail.opened, y_gmail.complaints) == (1, 1)
    assert queries.overall(account, TODAY, TODAY, mailbox_type="gmail.com").delivered == 1
    y_all = queries.overall(account, YESTERDAY, YESTERDAY)
    parts = [queries.overall(account, YESTERDAY, YESTERDAY, domain=d.name) for d in (verified_domain, second)]
    assert y_all == parts[0] + parts[1]
    types = [queries.overall(account, YESTERDAY, YESTERDAY, mailbox_type=t) for t in queries.mailbox_types(account)]
    assert sum(types[1:], types[0]) == y_all
    assert queries.mailbox_types(account) == ["gmail.com", "qq.com", SIM]
    assert y_all.requested == 6 + 4 + 2 and y_all.invalid == 1 + 1 + 1


def test_deleting_a_domain_takes_its_volumes_out_of_the_rollups(known_traffic, account, template):
    second = create_domain(account, "news.alice.example")
    traffic.volume(account, second, "gmail.com", TODAY, requested=5, sent=5, delivered=5)
    traffic.volume(account, second, SIM, YESTERDAY, requested=2, sent=2, delivered=1, invalid=1)
    assert queries.overall(account, YESTERDAY, TODAY).requested == 26
    delete_domain(second)
    assert_rollups_match(account)
    assert queries.overall(account, YESTERDAY, TODAY).as_dict() == EXPECTED
    assert queries.overall(account, YESTERDAY, TODAY, mailbox_type="gmail.com").requested == 0


def test_the_backfill_rebuilds_exactly_what_the_writes_kept(known_traffic, account, other_account):
    mine = create_domain(other_account, "charlie.example")
    traffic.volume(other_account, mine, "gmail.com", TODAY, requested=50, sent=50)
    kept = {a.pk: (rollup(AccountDay, a, "day"), rollup(AccountMailboxDay, a, "mailbox_type", "day"))
            for a in (account, other_account)}
    AccountDay.objects.all().delete()
    AccountMailboxDay.objects.all().delete()
    rollups.rebuild([account.pk])
    assert (rollup(AccountDay, account, "day"), rollup(AccountMailboxDay, account, "mailbox_type", "day")) == kept[
        account.pk]
    assert not AccountDay.objects.filter(account=other_account).exists()  # only the accounts asked for
    rollups.rebuild()
    for a in (account, other_account):
        assert (rollup(AccountDay, a, "day"), rollup(AccountMailboxDay, a, "mailbox_type", "day")) == kept[a.pk]


def test_an_outsider_sees_nothing_of_anothers_traffic(known_traffic, account, other_account, client, outsider):
    theirs = create_domain(other_account, "charlie.example")
    traffic.volume(other_account, theirs, SIM, TODAY, requested=50, sent=50, delivered=50)
    assert queries.overall(other_account, TODAY, TODAY).requested == 50
    assert queries.overall(other_account, TODAY, TODAY, mailbox_type=SIM).requested == 50
    assert queries.overall(other_account, TODAY, TODAY, domain="mail.alice.example").requested == 0
    assert queries.mailbox_types(other_account) == [SIM]
    assert queries.overall(account, TODAY, TODAY).as_dict() == EXPECTED  # and the other way round
    client.force_login(outsider)
    html = client.get("/stats/", {"start": TODAY.isoformat(), "end": TODAY.isoformat(), "mailbox_type": SIM})
    assert html.status_code == 200
    assert "<td class=\"num\">50</td>" in html.content.decode() and ">19<" not in html.content.decode()
    suggestions = client.get("/stats/domains/", {"domain": "alice"}).content.decode()
    assert "mail.alice.example" not in suggestions
    assert "charlie.example" in client.get("/stats/domains/", {"domain": "char"}).content.decode()


@pytest.mark.postgres(reason="needs PostgreSQL's row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_outcomes_of_one_account_keep_the_rollups_exact(account, sender, template, verified_domain):
    """Four threads record outcomes of the same account at once: no deadlock, no lost update."""
    import threading

    from django.db import connection

    with time_machine.travel(NOON, tick=False):
        recipients = [f"{box}{n}@{kind}" for n in range(12) for box, kind in (("a", "gmail.com"), ("b", "qq.com"))]
        messages = send(account, template, recipients)
    kinds = ["delivered", "invalid", "spam", "delivered"]
    errors = []

    def work(part: list[Message], kind: str) -> None:
        try:
            with time_machine.travel(NOON, tick=False):
                for message in part:
                    record_event(message, kind, {"reply": "250 OK" if kind == "delivered" else "550 no"})
                    record_event(message, "opened")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(messages[n::4], kinds[n])) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_rollups_match(account)
    day = AccountDay.objects.get(account=account, day=TODAY)
    assert (day.sent, day.delivered, day.invalid, day.spam) == (24, 12, 6, 6)


def test_simulator_mail_that_does_not_count_is_kept_apart_by_every_rollup_write(
    clock, account, sender, template, verified_domain
):
    # The default: simulator mail does not count for reputation. Its statistics have the mailbox
    # type "simulator"; the account's day rollup (what the freeze rules read) leaves it out.
    traffic.send_to_simulator(account, template, {"success": 3, "bounce": 2, "open": 1})
    gmail = send(account, template, ["ann@gmail.com", "bob@gmail.com"])
    assert record_event(gmail[0], "delivered", {"reply": "250 OK"})
    assert record_event(gmail[1], "invalid", {"reply": "550 5.1.1 no such user"})
    assert_rollups_match(account)

    assert queries.mailbox_types(account) == ["gmail.com", SIMULATOR_MAILBOX]
    simulated = queries.overall(account, TODAY, TODAY, mailbox_type=SIMULATOR_MAILBOX)
    assert (simulated.accepted, simulated.delivered, simulated.opened, simulated.invalid) == (6, 4, 1, 2)
    everything = queries.overall(account, TODAY, TODAY)
    assert (everything.accepted, everything.delivered, everything.opened, everything.invalid) == (2, 1, 0, 1)
    assert queries.overall(account, TODAY, TODAY, domain=verified_domain.name) == everything
    day = DomainDay.objects.get(domain=verified_domain, day=TODAY)
    assert (day.sent, day.simulated, day.delivered, day.invalid, day.opened) == (8, 6, 1, 1, 0)

    kept = (rollup(AccountDay, account, "day"), rollup(AccountMailboxDay, account, "mailbox_type", "day"))
    rollups.rebuild([account.pk])
    assert (rollup(AccountDay, account, "day"), rollup(AccountMailboxDay, account, "mailbox_type", "day")) == kept

    second = create_domain(account, "news.alice.example")
    traffic.volume(account, second, SIMULATOR_MAILBOX, TODAY, requested=4, sent=4, delivered=4)
    traffic.volume(account, second, "gmail.com", TODAY, requested=1, sent=1)
    assert_rollups_match(account)
    delete_domain(second)
    assert_rollups_match(account)
    assert queries.overall(account, TODAY, TODAY) == everything
    assert queries.overall(account, TODAY, TODAY, mailbox_type=SIMULATOR_MAILBOX) == simulated
