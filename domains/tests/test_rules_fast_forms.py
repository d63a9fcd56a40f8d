"""The fast forms of the rules (domains.reputation.rules: upgrade_fires, downgrade_fires, freeze_fires,
upgrade_out_of_reach) answer as rules.upgrade, rules.downgrade and rules.freeze do. Pure: no database.

The counts are drawn around every boundary of the shipped tables (settings.SES_REPUTATION, never
restated here): each condition placed exactly on its threshold as an exact fraction (70% of the cap
as 7 of 10, 0.1% of delivered as 1 of 1,000, exactly 300 sent), then every counter and the cap
moved by a little either way; the boundary cases of test_rules.py, moved the same way; and counts
at random. The rest of the day is a good day (nothing invalid, spam or complained of, all opened)
or a bad one, so the rule a boundary belongs to is the one that decides.
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from domains.reputation import rules
from domains.reputation.rules import COUNTER_ORDER, METRIC_PARTS, DayMetrics
from domains.tests.test_rules import DOWNGRADE_CASES, FREEZE_CASES, UPGRADE_CASES

TABLES = settings.SES_REPUTATION
UP = TABLES["UPGRADE_RULES"]
DOWN = TABLES["DOWNGRADE_RULES"]
FREEZE = TABLES["FREEZE_RULES"]
TOP = len(TABLES["LEVEL_CAPS"])
EXAMPLES = hypothesis_settings(max_examples=800, deadline=None, derandomize=True, database=None)


def conditions_of(*tables) -> list[rules.Condition]:
    return sorted({tuple(c) for table in tables for conditions in table.values() for c in conditions})


def exactly_on(metric: str, value: str, m: int) -> dict[str, int]:
    """Counters (and "cap") that put `metric` exactly on its threshold `value`; m scales them."""
    numerator, denominator = METRIC_PARTS[metric]
    threshold = Fraction(Decimal(value))
    if denominator is None:
        return {numerator: math.floor(threshold)}  # exact for a whole threshold, the nudges do the rest
    share = threshold / 100  # numerator / denominator, reduced: the smallest exact pair, times m
    return {numerator: share.numerator * m, denominator: share.denominator * m}


def a_day(pinned: dict[str, int], good: bool) -> tuple[dict[str, int], int]:
    """The pinned counters, the others as a good day (or a bad one) around them; and the cap."""
    c = dict(pinned)
    cap = c.pop("cap", None)
    sent = c.setdefault("sent", c.get("delivered", 400))
    if good:
        c.setdefault("invalid", 0)
        c.setdefault("spam", 0)
        c.setdefault("delivered", max(sent - c["invalid"] - c["spam"], 0))
        c.setdefault("complaints", 0)
        c.setdefault("opened", c["delivered"])
    else:
        c.setdefault("invalid", sent // 5)
        c.setdefault("spam", sent // 8)
        c.setdefault("delivered", max(sent - c["invalid"] - c["spam"], 0))
        c.setdefault("complaints", c["delivered"] // 60)
        c.setdefault("opened", 0)
    return c, (sent if good else 3 * sent) if cap is None else cap


def pinned_seeds(*tables) -> list[tuple[dict[str, int], int, tuple[str, ...]]]:
    """Every condition of the tables exactly on its threshold, at a few scales (one past "sent > 300"),
    on a good day and a bad one: (counters, cap, the names placed on the threshold)."""
    found = []
    for metric, _op, value in conditions_of(*tables):
        share = Fraction(Decimal(value)) / 100
        past_300 = 301 // share.denominator + 1 if METRIC_PARTS[metric][1] else 1
        for m, good in itertools.product(sorted({1, 2, 3, 7, past_300}), (True, False)):
            pinned = exactly_on(metric, value, m)
            found.append((*a_day(pinned, good), tuple(pinned)))
    return found


def seeds(*tables) -> list[tuple[dict[str, int], int]]:
    return [(counters, cap) for counters, cap, _pinned in pinned_seeds(*tables)]


def case_seeds(cases, with_cap: bool) -> list[tuple[dict[str, int], int]]:
    """test_rules.py's boundary cases: (case, metrics, level[, cap], expected)."""
    return [({name: getattr(case[1], name) for name in COUNTER_ORDER}, case[3] if with_cap else 500) for case in cases]


NUDGE = st.sampled_from([0, 0, 0, -1, 1, -2, 2])
LEVELS = st.one_of(st.sampled_from([0, 1, 2, TOP - 1, TOP, TOP + 1]), st.integers(1, TOP))
ANY_COUNT = st.one_of(st.integers(0, 12), st.integers(0, 1_200), st.integers(0, 10**7))


@st.composite
def counts(draw, seed_list):
    """(counters in COUNTER_ORDER, cap): a seed moved by a little, or counts at random."""
    if draw(st.integers(0, 9)) == 0:
        return tuple(draw(ANY_COUNT) for _ in COUNTER_ORDER), draw(ANY_COUNT)
    counters, cap = draw(st.sampled_from(seed_list))
    moved = tuple(max(counters[name] + draw(NUDGE), 0) for name in COUNTER_ORDER)
    return moved, max(cap + draw(NUDGE), 0)


UP_SEEDS = seeds(UP) + case_seeds(UPGRADE_CASES, with_cap=True)
DOWN_SEEDS = seeds(DOWN) + case_seeds(DOWNGRADE_CASES, with_cap=False)
FREEZE_SEEDS = seeds(FREEZE) + case_seeds(FREEZE_CASES, with_cap=False)


@EXAMPLES
@given(day=counts(UP_SEEDS), level=LEVELS)
def test_the_fast_upgrade_answers_as_the_upgrade_rules(day, level):
    counters, cap = day
    fires = rules.upgrade(DayMetrics(*counters), level, cap, TOP, UP) is not None
    assert rules.upgrade_fires(UP)(counters, level, cap, TOP) == fires


@EXAMPLES
@given(day=counts(DOWN_SEEDS), level=LEVELS)
def test_the_fast_downgrade_answers_as_the_downgrade_rules(day, level):
    counters, _cap = day
    fires = rules.downgrade(DayMetrics(*counters), level, DOWN) is not None
    assert rules.downgrade_fires(DOWN)(counters, level) == fires


@EXAMPLES
@given(day=counts(FREEZE_SEEDS))
def test_the_fast_freeze_answers_as_the_freeze_rules(day):
    counters, _cap = day
    assert rules.freeze_fires(FREEZE)(counters) == (rules.freeze(DayMetrics(*counters), FREEZE) is not None)


@EXAMPLES
@given(day=counts(UP_SEEDS), level=LEVELS)
def test_no_upgrade_can_move_is_never_said_of_a_day_an_upgrade_rule_lifts(day, level):
    counters, cap = day
    sent = counters[COUNTER_ORDER.index("sent")]
    if rules.upgrade(DayMetrics(*counters), level, cap, TOP, UP) is not None:
        assert not rules.upgrade_out_of_reach(UP)(sent, level, cap, TOP)


@EXAMPLES
@given(day=counts(UP_SEEDS), level=LEVELS)
def test_with_the_shipped_rules_the_shortcut_is_also_exact(day, level):
    """It does not give up the saving either: when it says an upgrade may come, the best day that
    volume can have (all of it delivered and opened, nothing invalid, spam or complained of) lifts."""
    counters, cap = day
    sent = counters[COUNTER_ORDER.index("sent")]
    best = DayMetrics(sent=sent, delivered=sent, opened=sent)
    out_of_reach = rules.upgrade_out_of_reach(UP)(sent, level, cap, TOP)
    assert out_of_reach == (rules.upgrade(best, level, cap, TOP, UP) is None)


def neighbours(counters: dict[str, int], cap: int, pinned: tuple[str, ...]):
    """A seed and its neighbours: each name placed on the threshold (a counter or the cap) one below,
    on it and one above, in every combination."""
    for nudges in itertools.product((-1, 0, 1), repeat=len(pinned)):
        moved = {**counters, "cap": cap}
        for name, d in zip(pinned, nudges, strict=True):
            moved[name] = max(moved[name] + d, 0)
        yield tuple(moved[name] for name in COUNTER_ORDER), moved["cap"]


def test_every_boundary_of_the_shipped_tables_and_its_neighbours():
    """Deterministically, besides hypothesis' draws: each condition on its threshold and one either
    side, at the levels that matter; both answers are met at the boundaries of each table."""
    answers = {"upgrade": set(), "downgrade": set(), "freeze": set()}
    for counters, cap, pinned in pinned_seeds(UP):
        for (row, cap_now), level in itertools.product(neighbours(counters, cap, pinned), (1, TOP - 1, TOP)):
            slow = rules.upgrade(DayMetrics(*row), level, cap_now, TOP, UP) is not None
            assert rules.upgrade_fires(UP)(row, level, cap_now, TOP) == slow, (row, level, cap_now)
            sent = row[COUNTER_ORDER.index("sent")]
            assert not (slow and rules.upgrade_out_of_reach(UP)(sent, level, cap_now, TOP)), (row, level, cap_now)
            answers["upgrade"].add(slow)
    for counters, cap, pinned in pinned_seeds(DOWN):
        for (row, _cap), level in itertools.product(neighbours(counters, cap, pinned), (1, 2, TOP)):
            slow = rules.downgrade(DayMetrics(*row), level, DOWN) is not None
            assert rules.downgrade_fires(DOWN)(row, level) == slow, (row, level)
            answers["downgrade"].add(slow)
    for counters, cap, pinned in pinned_seeds(FREEZE):
        for row, _cap in neighbours(counters, cap, pinned):
            slow = rules.freeze(DayMetrics(*row), FREEZE) is not None
            assert rules.freeze_fires(FREEZE)(row) == slow, row
            answers["freeze"].add(slow)
    assert all(found == {True, False} for found in answers.values()), answers


def test_the_seeds_sit_exactly_on_the_thresholds():
    """The strategies do reach the exact fractions: 70% of the cap, 5% invalid, exactly 300 sent…"""
    for metric, _op, value in conditions_of(UP, DOWN, FREEZE):
        pinned = exactly_on(metric, value, 3)
        counters, cap = a_day(pinned, good=True)
        values = rules.metric_values(DayMetrics(*(counters[name] for name in COUNTER_ORDER)), cap)
        assert values[metric] == Fraction(Decimal(value)), (metric, value)


def test_a_table_without_a_volume_condition_is_always_within_reach():
    """A rule that names no volume (sent, share of the cap) may be met by outcomes alone."""
    table = {**UP, "U9": [("open_rate", ">", "99")]}
    assert not rules.upgrade_out_of_reach(table)(0, 1, 500, TOP)
    assert rules.upgrade(DayMetrics(sent=0, delivered=1, opened=1), 1, 500, TOP, table).rule == "U9"
    assert rules.upgrade_out_of_reach(table)(0, TOP, 500, TOP)  # the top level: nothing lifts
