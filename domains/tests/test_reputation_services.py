"""The reputation engine against the database: quota, immediate upgrades, freezes, closing a day."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AccountFreeze
from domains import signals
from domains.models import ClosedDay, DailyVolume, DomainDay, LevelChange, SenderDomain
from domains.reputation import rollups
from domains.reputation.services import (
    account_metrics,
    check_freeze,
    close_day,
    close_due_days,
    get_day,
    lift_freeze,
    record_outcome,
    reserve_quota,
)
from domains.services import create_domain

NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
TODAY = NOON.date()


@pytest.fixture(autouse=True)
def at_noon():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def listen():
    """Connect a receiver to a signal for the length of one test."""
    connected = []

    def connect(signal, receiver):
        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))

    yield connect
    for signal, receiver in connected:
        signal.disconnect(receiver)


def recipients(n, mailbox="gmail.com"):
    return [f"user{i}@{mailbox}" for i in range(n)]


def deliver(domain, n, day=TODAY):
    record_outcome(domain, day, "delivered", "someone@gmail.com", n=n)


def set_counters(domain, day=TODAY, **counters):
    """Counters as a day ended with them, written without running any check.

    The statistics move with them, as they do with real traffic (domains.reputation.rollups.add_volume in the
    same transaction): reservations read the account's day totals from that rollup."""
    row = get_day(domain, day)
    DomainDay.objects.filter(pk=row.pk).update(**counters)
    rollups.add_volume(domain, day, {"example.org": {k: v - getattr(row, k) for k, v in counters.items() if k in rollups.COUNTERS}})
    return row


def second_domain(account, name="news.alice.example"):
    domain = create_domain(account, name)
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED)
    domain.refresh_from_db()
    return domain


# --- reserve_quota -------------------------------------------------------------------------------


def test_a_new_domain_has_the_level_1_cap(verified_domain):
    assert verified_domain.level == 1
    assert verified_domain.daily_cap == 500
    assert get_day(verified_domain).cap == 500


def test_it_reserves_exactly_up_to_the_cap_and_not_one_more(verified_domain):
    assert reserve_quota(verified_domain, recipients(499)).ok
    assert reserve_quota(verified_domain, recipients(1)).ok
    refused = reserve_quota(verified_domain, recipients(1))
    assert not refused.ok
    assert (refused.sent, refused.cap) == (500, 500)
    assert DomainDay.objects.get(domain=verified_domain).sent == 500


def test_a_call_that_does_not_fit_counts_nothing(verified_domain):
    reserve_quota(verified_domain, recipients(499))
    assert not reserve_quota(verified_domain, recipients(2)).ok
    row = DomainDay.objects.get(domain=verified_domain)
    assert (row.sent, row.requested) == (499, 499)
    assert sum(DailyVolume.objects.values_list("sent", flat=True)) == 499


def test_it_counts_sent_per_receiving_mailbox_type(verified_domain):
    reserve_quota(verified_domain, ["a@gmail.com", "b@Gmail.com", "c@qq.com"])
    volumes = dict(DailyVolume.objects.values_list("mailbox_type", "sent"))
    assert volumes == {"gmail.com": 2, "qq.com": 1}


def test_at_the_cap_the_upgrade_check_runs_first_and_frees_room(verified_domain):
    set_counters(verified_domain, sent=500, requested=500, delivered=500)
    reservation = reserve_quota(verified_domain, recipients(10))
    assert reservation.ok
    assert reservation.upgraded_to == 2
    assert (reservation.sent, reservation.cap) == (510, 1000)


def test_at_the_cap_with_poor_quality_the_send_is_refused(verified_domain):
    set_counters(verified_domain, sent=500, requested=500, delivered=400, invalid=100)
    reservation = reserve_quota(verified_domain, recipients(1))
    assert not reservation.ok
    assert reservation.upgraded_to is None
    assert SenderDomain.objects.get(pk=verified_domain.pk).level == 1


# --- immediate upgrades --------------------------------------------------------------------------


def test_it_upgrades_the_moment_delivery_passes_92_percent(verified_domain):
    reserve_quota(verified_domain, recipients(350))
    deliver(verified_domain, 322)  # 322 / 350 = 92% exactly: not > 92%
    verified_domain.refresh_from_db()
    assert verified_domain.level == 1
    deliver(verified_domain, 1)  # 92.29%
    verified_domain.refresh_from_db()
    assert verified_domain.level == 2
    assert verified_domain.daily_cap == 1000
    assert get_day(verified_domain).cap == 1000
    change = LevelChange.objects.get(domain=verified_domain)
    assert (change.from_level, change.to_level, change.rule) == (1, 2, "U1")
    assert change.metrics["delivery_rate"] == "92.29"
    assert change.metrics["sent"] == "350"
    assert change.effective_at == timezone.now()


def test_level_1_can_reach_level_20_in_one_day(verified_domain, django_capture_on_commit_callbacks, listen):
    received = []
    listen(signals.level_changed, lambda change, **kw: received.append(change.to_level))
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(19):
            row = get_day(verified_domain)
            needed = -(-row.cap * 7 // 10) - row.sent  # ceil(70% of cap) - sent
            assert reserve_quota(verified_domain, ["x@gmail.com"] * needed).ok
            deliver(verified_domain, needed)
    verified_domain.refresh_from_db()
    assert verified_domain.level == 20
    assert get_day(verified_domain).cap == 1_000_000
    assert LevelChange.objects.filter(domain=verified_domain).count() == 19
    assert received == list(range(2, 21))


def test_it_never_upgrades_past_level_20(verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=20)
    verified_domain.refresh_from_db()
    set_counters(verified_domain, cap=1_000_000, level=20, sent=900_000, delivered=900_000)
    deliver(verified_domain, 1)
    verified_domain.refresh_from_db()
    assert verified_domain.level == 20
    assert not LevelChange.objects.exists()


def test_an_outcome_for_a_past_day_does_not_move_todays_level(verified_domain):
    yesterday = TODAY - dt.timedelta(days=1)
    set_counters(verified_domain, day=yesterday, sent=400, requested=400)
    deliver(verified_domain, 400, day=yesterday)
    verified_domain.refresh_from_db()
    assert verified_domain.level == 1
    assert DomainDay.objects.get(domain=verified_domain, day=yesterday).delivered == 400


def test_a_pending_domain_does_not_upgrade(account):
    domain = create_domain(account, "pending.alice.example")
    set_counters(domain, sent=400, requested=400)
    deliver(domain, 400)
    domain.refresh_from_db()
    assert domain.level == 1


def test_a_late_bounce_moves_a_delivered_message_to_bounced(verified_domain):
    reserve_quota(verified_domain, ["a@gmail.com"])
    record_outcome(verified_domain, TODAY, "delivered", "a@gmail.com")
    record_outcome(verified_domain, TODAY, "late_invalid", "a@gmail.com")
    row = get_day(verified_domain)
    assert (row.delivered, row.invalid) == (0, 1)
    volume = DailyVolume.objects.get(domain=verified_domain)
    assert (volume.delivered, volume.invalid) == (0, 1)


# --- the freeze ----------------------------------------------------------------------------------


def test_the_account_freezes_on_its_totals_across_domains(account, verified_domain, listen):
    other = second_domain(account)
    set_counters(verified_domain, sent=200, requested=200, delivered=200)
    set_counters(other, sent=101, requested=101, delivered=66, invalid=34)
    # Neither domain alone has sent > 300; the account has 301 with 34 invalid = 11.3%.
    frozen = []
    listen(signals.account_frozen, lambda freeze, **kw: frozen.append(freeze))
    record_outcome(other, TODAY, "invalid", "x@gmail.com", n=0)
    freeze = AccountFreeze.objects.get(account=account)
    assert freeze.rule == "F1"
    assert freeze.day == TODAY
    assert freeze.metrics["sent"] == "301"
    assert account.is_frozen()
    assert frozen == [freeze]


def test_exactly_11_percent_invalid_does_not_freeze(account, verified_domain):
    set_counters(verified_domain, sent=400, requested=400, delivered=356, invalid=44)
    assert check_freeze(account.pk, TODAY) is None
    set_counters(verified_domain, sent=400, requested=400, delivered=355, invalid=45)
    assert check_freeze(account.pk, TODAY).rule == "F1"


def test_a_freeze_lasts_for_the_rest_of_the_day_only(account, verified_domain, at_noon):
    set_counters(verified_domain, sent=400, requested=400, delivered=300, spam=100)
    assert check_freeze(account.pk, TODAY).rule == "F2"
    at_noon.move_to(dt.datetime(2026, 3, 10, 23, 59, 59, tzinfo=dt.UTC))
    assert account.is_frozen()
    at_noon.move_to(dt.datetime(2026, 3, 11, 0, 0, 0, tzinfo=dt.UTC))
    assert not account.is_frozen()


def test_a_freeze_lifted_by_staff_stays_lifted_that_day(account, verified_domain, staff_user):
    set_counters(verified_domain, sent=400, requested=400, delivered=300, spam=100)
    freeze = check_freeze(account.pk, TODAY)
    lift_freeze(freeze, staff_user, "customer removed the bad list")
    assert not account.is_frozen()
    record_outcome(verified_domain, TODAY, "spam", "x@gmail.com")
    assert not account.is_frozen()
    freeze.refresh_from_db()
    assert freeze.lifted_by == staff_user
    assert freeze.lift_reason == "customer removed the bad list"


def test_lifting_a_freeze_needs_a_reason(account, verified_domain, staff_user):
    set_counters(verified_domain, sent=400, requested=400, delivered=300, spam=100)
    freeze = check_freeze(account.pk, TODAY)
    with pytest.raises(ValueError):
        lift_freeze(freeze, staff_user, "  ")
    assert account.is_frozen()


def test_account_metrics_sum_the_account_domains_only(account, verified_domain, other_account):
    outsider_domain = second_domain(other_account, "mail.charlie.example")
    set_counters(verified_domain, sent=10, delivered=9, invalid=1)
    set_counters(outsider_domain, sent=1000, delivered=0, invalid=1000)
    totals = account_metrics(account.pk, TODAY)
    assert (totals.sent, totals.delivered, totals.invalid) == (10, 9, 1)


# --- closing a day -------------------------------------------------------------------------------

YESTERDAY = TODAY - dt.timedelta(days=1)


def at_level(domain, level):
    SenderDomain.objects.filter(pk=domain.pk).update(level=level)
    domain.refresh_from_db()
    return domain


def test_a_bad_day_downgrades_one_level_from_the_next_day(verified_domain):
    at_level(verified_domain, 5)
    set_counters(verified_domain, day=YESTERDAY, sent=400, requested=400, delivered=360, invalid=40)
    close_day(YESTERDAY)
    verified_domain.refresh_from_db()
    assert verified_domain.level == 4
    change = LevelChange.objects.get(domain=verified_domain)
    assert (change.from_level, change.to_level, change.rule, change.day) == (5, 4, "D1", YESTERDAY)
    assert change.effective_at == dt.datetime(2026, 3, 10, 0, 0, tzinfo=dt.UTC)
    assert change.metrics["invalid_rate"] == "10.00"


def test_mail_sent_after_midnight_before_the_close_gets_the_lower_cap(verified_domain):
    at_level(verified_domain, 5)
    set_counters(verified_domain, day=YESTERDAY, sent=400, requested=400, delivered=200)
    today_row = get_day(verified_domain)
    assert today_row.cap == 10_000
    close_day(YESTERDAY)
    today_row.refresh_from_db()
    assert (today_row.level, today_row.cap) == (4, 5_000)


def test_exactly_300_sent_never_downgrades(verified_domain):
    at_level(verified_domain, 5)
    set_counters(verified_domain, day=YESTERDAY, sent=300, requested=300, delivered=0, invalid=300)
    close_day(YESTERDAY)
    verified_domain.refresh_from_db()
    assert verified_domain.level == 5


def test_closing_a_day_twice_changes_nothing_the_second_time(verified_domain):
    at_level(verified_domain, 5)
    set_counters(verified_domain, day=YESTERDAY, sent=400, requested=400, delivered=100)
    first = close_day(YESTERDAY)
    second = close_day(YESTERDAY)
    verified_domain.refresh_from_db()
    assert verified_domain.level == 4
    assert first.pk == second.pk
    assert (first.domains_evaluated, first.downgrades) == (1, 1)
    assert LevelChange.objects.count() == 1


def test_today_cannot_be_closed(verified_domain):
    with pytest.raises(ValueError):
        close_day(TODAY)
    assert not ClosedDay.objects.exists()


def test_missed_days_are_closed_in_order(verified_domain):
    at_level(verified_domain, 5)
    for days_ago in (3, 2, 1):
        set_counters(
            verified_domain, day=TODAY - dt.timedelta(days=days_ago), sent=400, requested=400, delivered=100
        )
    closed = close_due_days()
    assert [c.day for c in closed] == [TODAY - dt.timedelta(days=d) for d in (3, 2, 1)]
    verified_domain.refresh_from_db()
    assert verified_domain.level == 2
    changes = list(LevelChange.objects.order_by("at", "id").values_list("day", "from_level", "to_level"))
    assert changes == [
        (TODAY - dt.timedelta(days=3), 5, 4),
        (TODAY - dt.timedelta(days=2), 4, 3),
        (TODAY - dt.timedelta(days=1), 3, 2),
    ]
    assert close_due_days() == []


def test_closing_a_day_ends_its_freezes(account, verified_domain, at_noon):
    set_counters(verified_domain, sent=400, requested=400, delivered=300, spam=100)
    freeze = check_freeze(account.pk, TODAY)
    at_noon.move_to(dt.datetime(2026, 3, 11, 0, 5, tzinfo=dt.UTC))
    close_due_days()
    freeze.refresh_from_db()
    assert freeze.ended_at == dt.datetime(2026, 3, 11, 0, 0, tzinfo=dt.UTC)


def test_losing_level_20_drops_the_custom_cap(verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=20, custom_cap=2_000_000)
    verified_domain.refresh_from_db()
    assert verified_domain.daily_cap == 2_000_000
    set_counters(verified_domain, day=YESTERDAY, sent=400, requested=400, delivered=400, complaints=3)
    close_day(YESTERDAY)
    verified_domain.refresh_from_db()
    assert (verified_domain.level, verified_domain.custom_cap, verified_domain.daily_cap) == (19, None, 900_000)


def test_the_platform_day_follows_the_configured_time_zone(verified_domain, settings, at_noon):
    settings.TIME_ZONE = "Asia/Tokyo"
    # 16:00 UTC on the 10th is 01:00 on the 11th in Tokyo: a new platform day with a fresh count.
    at_noon.move_to(dt.datetime(2026, 3, 10, 14, 59, tzinfo=dt.UTC))
    reserve_quota(verified_domain, recipients(5))
    at_noon.move_to(dt.datetime(2026, 3, 10, 16, 0, tzinfo=dt.UTC))
    reserve_quota(verified_domain, recipients(3))
    days = dict(DomainDay.objects.values_list("day", "sent"))
    assert days == {dt.date(2026, 3, 10): 5, dt.date(2026, 3, 11): 3}


def test_a_batch_chunk_takes_what_is_left_under_the_cap(verified_domain):
    from domains.reputation.services import reserve_up_to

    reserve_quota(verified_domain, recipients(480))
    assert reserve_up_to(verified_domain, recipients(50)) == 20
    assert reserve_up_to(verified_domain, recipients(50)) == 0
    assert get_day(verified_domain).sent == 500


def test_a_reservation_that_passes_300_sent_can_freeze_the_account(account, verified_domain):
    set_counters(verified_domain, sent=300, requested=300, delivered=260, invalid=40)
    assert not account.is_frozen()  # 300 sent is not > 300
    reserve_quota(verified_domain, recipients(1))
    assert AccountFreeze.objects.get(account=account).rule == "F1"  # 40 of 301 = 13.3%

