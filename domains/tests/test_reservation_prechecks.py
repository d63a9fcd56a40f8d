"""The pre-checks of a reservation (domains.reputation.services.reserve_quota) decide as the rules do.

After a reservation, the upgrade and freeze checks run only when a rule of settings.SES_REPUTATION
holds on the counters the statement read back. The rule tables are evaluated in integer arithmetic
(rules.compile_table, behind the fast forms; no metrics built per reservation): here they must agree
with the rules' exact evaluation on every metric and operator, at and around each threshold. And the level that stops the upgrade check
at the top is the one a concurrent level change left, not an older one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from core.clock import platform_today
from domains.models import AccountDay, DomainDay, SenderDomain
from domains.reputation import levels, rules
from domains.reputation.services import get_day, reserve_quota

OPERATORS = sorted(rules.OPERATORS)
EVERY_METRIC = {
    "E-" + metric + op: [(metric, op, value)]
    for metric in sorted(levels.METRICS)
    for op, value in zip(OPERATORS, ["0", "2.5", "11", "70"], strict=True)
}


def by_the_rules(table, counters, cap=None):
    values = rules.metric_values(rules.DayMetrics(*counters), cap)
    return rules.first_rule_that_holds(table, values) is not None


def counter_rows(seed: int, n: int):
    """Small counters (so rates land exactly on thresholds such as 11 % or 2.5 %), zeros included."""
    rng = random.Random(seed)
    rows = [tuple(rng.choice([0, rng.randint(0, 40), rng.randint(0, 400)]) for _ in rules.COUNTER_ORDER)
            for _ in range(n)]
    rows += [(s, d, i, sp, c, o) for s, d, i, sp, c, o in itertools.product([0, 40, 400], [0, 40], [0, 44],
                                                                           [0, 1], [0, 4], [0, 20])]
    return rows


def test_every_metric_the_rules_know_is_evaluated_here():
    assert set(rules.METRIC_PARTS) == set(rules.METRIC_COUNTERS) == levels.METRICS


@pytest.mark.parametrize("name", ["UPGRADE_RULES", "DOWNGRADE_RULES", "FREEZE_RULES", "every metric and operator"])
def test_the_pre_checks_decide_as_the_rules_on_any_counters(name):
    table = EVERY_METRIC if name == "every metric and operator" else levels._config()[name]
    with_cap = any(metric == "sent_of_cap" for conditions in table.values() for metric, _op, _value in conditions)
    holds = rules.compile_table(table, with_cap=with_cap)
    for counters in counter_rows(seed=len(name), n=3000):
        for cap in ([0, 1, 57, 100, 500] if with_cap else [None]):
            assert holds(counters, cap) == by_the_rules(table, counters, cap), (counters, cap)


def test_a_rule_holds_only_when_all_its_conditions_do_and_at_the_exact_threshold():
    table = {"F": [("sent", ">", "300"), ("invalid_rate", ">", "11")]}
    holds = rules.compile_table(table)
    assert not holds((300, 0, 300, 0, 0, 0))  # 100 % invalid, but not past 300 sent
    assert not holds((400, 0, 44, 0, 0, 0))  # exactly 11 %: not past it
    assert holds((400, 0, 45, 0, 0, 0))
    assert not holds((0, 0, 0, 0, 0, 0))  # no mail: every rate is 0


def test_a_rule_table_swapped_in_settings_is_the_one_evaluated(settings):
    counters = (400, 0, 45, 0, 0, 0)
    assert rules.freeze_fires(levels.freeze_rules())(counters) == by_the_rules(levels.freeze_rules(), counters)
    settings.SES_REPUTATION = {**settings.SES_REPUTATION, "FREEZE_RULES": {"F9": [("sent", ">", "1000")]}}
    assert rules.freeze_fires(levels.freeze_rules())(counters) is False


def test_the_cached_date_is_the_platform_date_and_follows_the_time_zone(settings, time_machine):
    time_machine.move_to("2026-03-10 23:59:30+00:00", tick=False)
    assert platform_today() == timezone.localdate() == dt.date(2026, 3, 10)
    time_machine.move_to("2026-03-11 00:00:00+00:00", tick=False)
    assert platform_today() == timezone.localdate() == dt.date(2026, 3, 11)
    settings.TIME_ZONE = "Asia/Tokyo"  # 09:00 there
    assert platform_today() == timezone.localdate() == dt.date(2026, 3, 11)
    time_machine.move_to("2026-03-10 15:00:00+00:00", tick=False)  # back in time: midnight in Tokyo
    assert platform_today() == timezone.localdate() == dt.date(2026, 3, 11)


@pytest.mark.postgres(reason="needs a server database and two connections")
@pytest.mark.django_db(transaction=True)
def test_a_domain_taken_down_while_a_reservation_waits_is_checked_for_an_upgrade(verified_domain):
    """A level change commits while a reservation waits for the day row: the reservation's snapshot
    still shows the domain at the top, but the row it locks shows the new level and cap, and an
    upgrade rule holds on them: the upgrade check must run (the domain goes straight back up)."""
    top = levels.top_level()
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=top)
    verified_domain.refresh_from_db()
    row = get_day(verified_domain)
    # A perfect day so far: 80 sent and delivered. The upgrade rules want 70 % of the cap.
    DomainDay.objects.filter(pk=row.pk).update(sent=80, requested=80, delivered=80, opened=80)
    reserve_quota(verified_domain, ["first@gmail.com"])  # the statistics rows exist
    assert levels.upgrade_shares() and all(float(share) <= 81 for share in levels.upgrade_shares())

    locked, committed = threading.Event(), threading.Event()
    errors = []

    def take_the_domain_down():
        # What a level change writes, in one transaction: the domain's level and the day row's level and cap.
        try:
            with transaction.atomic():
                SenderDomain.objects.filter(pk=verified_domain.pk).update(level=top - 1)
                DomainDay.objects.filter(pk=row.pk).update(level=top - 1, cap=100)
                locked.set()
                committed.wait(30)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            locked.set()
            connections.close_all()

    other = threading.Thread(target=take_the_domain_down)
    other.start()
    assert locked.wait(30)
    result = {}

    def reserve():
        try:
            result["reservation"] = reserve_quota(verified_domain, ["second@gmail.com"])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    waiting = threading.Thread(target=reserve)
    waiting.start()
    # Let the reservation reach the day row's lock (its snapshot taken while the level was still the top).
    with connection.cursor() as cursor:
        for _ in range(300):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the reservation never waited for the day row")
    committed.set()
    other.join(30)
    waiting.join(30)
    assert not errors, errors

    reservation = result["reservation"]
    assert reservation.ok and reservation.sent == 82
    assert SenderDomain.objects.get(pk=verified_domain.pk).level == top
    assert reservation.upgraded_to == top
    assert AccountDay.objects.get(account=verified_domain.account).sent == 2
