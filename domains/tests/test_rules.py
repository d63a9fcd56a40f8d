"""The rules of SPEC §3, at and around every boundary. Pure: no database, no clock."""

import pytest
from django.conf import settings

from domains.reputation.rules import DayMetrics, downgrade, freeze, percent, upgrade

TABLES = settings.SES_REPUTATION
UP = TABLES["UPGRADE_RULES"]
DOWN = TABLES["DOWNGRADE_RULES"]
FREEZE = TABLES["FREEZE_RULES"]


def m(sent, delivered=None, invalid=0, spam=0, complaints=0, opened=0):
    return DayMetrics(
        sent=sent, delivered=sent - invalid - spam if delivered is None else delivered,
        invalid=invalid, spam=spam, complaints=complaints, opened=opened,
    )


# (case, metrics, level, cap, expected rule or None)
UPGRADE_CASES = [
    # sent ≥ 70% of the cap: 69.9% is not enough, 70% is.
    ("69.9% of the cap", m(699), 2, 1000, None),
    ("exactly 70% of the cap", m(700), 2, 1000, "U1"),
    ("69.8% of a 500 cap", m(349), 1, 500, None),
    ("exactly 350 of 500", m(350), 1, 500, "U1"),
    # invalid < 5%: 20 of 400 is exactly 5% and must not upgrade (SPEC's own example).
    ("invalid exactly 5%", m(400, invalid=20), 1, 500, None),
    ("invalid 4.75%", m(400, invalid=19), 1, 500, "U1"),
    # delivery > 92%
    ("delivery exactly 92%", m(400, delivered=368), 1, 500, None),
    ("delivery 92.25%", m(400, delivered=369), 1, 500, "U1"),
    # spam < 2.5%
    ("spam exactly 2.5%", m(400, spam=10), 1, 500, None),
    ("spam 2.25%", m(400, spam=9), 1, 500, "U1"),
    # complaint < 0.1% of delivered
    ("complaints exactly 0.1% of delivered", m(1050, delivered=1000, complaints=1), 3, 1500, None),
    ("complaints 0.0999% of delivered", m(1050, delivered=1001, complaints=1), 3, 1500, "U1"),
    # U2: invalid 6% rules U1 out; open > 50% and delivery > 90% carry it.
    ("U2 with opens exactly 50%", m(400, invalid=24, opened=188), 1, 500, None),
    ("U2 with opens 50.27%", m(400, invalid=24, opened=189), 1, 500, "U2"),
    ("U2 with delivery exactly 90%", m(400, delivered=360, invalid=40, opened=300), 1, 500, None),
    ("U2 with delivery 90.25%", m(400, delivered=361, invalid=39, opened=300), 1, 500, "U2"),
    ("U2 needs complaints under 0.1% too", m(1050, delivered=1000, invalid=50, complaints=1, opened=900), 3, 1500, None),
    ("U2 below 70% of the cap", m(349, invalid=30, opened=300), 1, 500, None),
    # Nothing delivered yet: every rate is 0, delivery is not > 92%.
    ("sent but no outcome yet", m(400, delivered=0), 1, 500, None),
    ("nothing sent", m(0), 1, 500, None),
    # The ceiling.
    ("level 19 may rise to 20", m(700_000), 19, 900_000, "U1"),
    ("level 20 is the top", m(1_000_000), 20, 1_000_000, None),
]


@pytest.mark.parametrize(
    ("metrics", "level", "cap", "expected"),
    [c[1:] for c in UPGRADE_CASES],
    ids=[c[0] for c in UPGRADE_CASES],
)
def test_upgrade_rules_at_their_boundaries(metrics, level, cap, expected):
    decision = upgrade(metrics, level, cap, top_level=20, table=UP)
    assert (decision.rule if decision else None) == expected


DOWNGRADE_CASES = [
    # sent > 300: exactly 300 never downgrades, however bad.
    ("300 sent, all invalid", m(300, invalid=300), 5, None),
    ("301 sent, 100 invalid", m(301, invalid=100), 5, "D1"),
    # invalid > 9%
    ("invalid exactly 9%", m(400, invalid=36), 5, None),
    ("invalid 9.25%", m(400, invalid=37), 5, "D1"),
    # delivery < 65%
    ("delivery exactly 65%", m(400, delivered=260), 5, None),
    ("delivery 64.75%", m(400, delivered=259), 5, "D2"),
    # spam > 5%
    ("spam exactly 5%", m(400, spam=20), 5, None),
    ("spam 5.25%", m(400, spam=21), 5, "D3"),
    # complaint > 0.5% of delivered
    ("complaints exactly 0.5%", m(400, complaints=2), 5, None),
    ("complaints 0.75%", m(400, complaints=3), 5, "D4"),
    ("a good day", m(10_000, invalid=100, spam=50, complaints=3), 5, None),
    # The floor: level 1 does not go lower.
    ("level 1 is the floor", m(400, invalid=200), 1, None),
    ("level 2 goes to 1", m(400, invalid=200), 2, "D1"),
]


@pytest.mark.parametrize(
    ("metrics", "level", "expected"), [c[1:] for c in DOWNGRADE_CASES], ids=[c[0] for c in DOWNGRADE_CASES]
)
def test_downgrade_rules_at_their_boundaries(metrics, level, expected):
    decision = downgrade(metrics, level, DOWN)
    assert (decision.rule if decision else None) == expected


FREEZE_CASES = [
    ("300 sent, all invalid", m(300, invalid=300), None),
    ("301 sent, invalid 33.2%", m(301, invalid=100), "F1"),
    ("invalid exactly 11%", m(400, invalid=44), None),
    ("invalid 11.25%", m(400, invalid=45), "F1"),
    ("spam exactly 15%", m(400, spam=60), None),
    ("spam 15.25%", m(400, spam=61), "F2"),
    ("invalid 10% and spam 14%: bad, not frozen", m(400, invalid=40, spam=56), None),
]


@pytest.mark.parametrize(("metrics", "expected"), [c[1:] for c in FREEZE_CASES], ids=[c[0] for c in FREEZE_CASES])
def test_freeze_rules_at_their_boundaries(metrics, expected):
    decision = freeze(metrics, FREEZE)
    assert (decision.rule if decision else None) == expected


def test_a_rate_with_no_denominator_is_zero():
    assert percent(5, 0) == 0
    decision = freeze(m(400, delivered=0, invalid=45), FREEZE)
    assert decision.rule == "F1"


def test_a_decision_carries_the_metric_values_that_fired_it():
    decision = upgrade(m(400, invalid=19), 1, 500, top_level=20, table=UP)
    assert decision.values["sent"] == "400"
    assert decision.values["invalid_rate"] == "4.75"
    assert decision.values["sent_of_cap"] == "80.00"


def test_the_thresholds_are_data_an_operator_can_tune():
    stricter = {"U1": [("sent_of_cap", ">=", "90"), ("delivery_rate", ">", "99")]}
    assert upgrade(m(400), 1, 500, top_level=20, table=stricter) is None
    assert upgrade(m(450), 1, 500, top_level=20, table=stricter).rule == "U1"


def test_each_check_knows_which_counters_its_rules_read():
    from domains.reputation.rules import counters_read_by

    assert counters_read_by(FREEZE) == {"sent", "invalid", "spam"}  # a delivery cannot freeze
    assert counters_read_by(DOWN) == {"sent", "invalid", "delivered", "spam", "complaints"}
    assert counters_read_by(UP) == {"sent", "invalid", "delivered", "spam", "complaints", "opened"}
