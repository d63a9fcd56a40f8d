"""`manage.py evaluate_reputation`: closes platform days in order, once, and only past ones."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from domains.models import ClosedDay, DomainDay, LevelChange, SenderDomain

TODAY = dt.date(2030, 3, 10)


def evaluate(*args: str) -> str:
    out = StringIO()
    call_command("evaluate_reputation", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(dt.datetime(2030, 3, 10, 9, 30, tzinfo=dt.UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def level_5_domain(verified_domain) -> SenderDomain:
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=5)
    verified_domain.refresh_from_db()
    return verified_domain


def bad_day(domain: SenderDomain, day: dt.date) -> DomainDay:
    """A finished day with 10% invalid addresses of 1,000 sent: rule D1 (invalid > 9%)."""
    return DomainDay.objects.create(
        domain=domain, day=day, level=5, cap=10_000, requested=1_000, sent=1_000, delivered=900, invalid=100
    )


def test_it_closes_yesterday_by_default_and_downgrades_for_today(level_5_domain):
    bad_day(level_5_domain, TODAY - dt.timedelta(days=1))

    output = evaluate()

    assert output == "Closed 2030-03-09: 1 domain(s) evaluated, 1 downgraded.\n"
    level_5_domain.refresh_from_db()
    assert level_5_domain.level == 4
    change = LevelChange.objects.get()
    assert (change.from_level, change.to_level, change.rule) == (5, 4, "D1")
    assert change.effective_at == dt.datetime(2030, 3, 10, tzinfo=dt.UTC)


def test_closing_the_same_day_again_changes_nothing(level_5_domain):
    bad_day(level_5_domain, TODAY - dt.timedelta(days=1))
    evaluate()

    output = evaluate("--date", "2030-03-09")

    assert "2030-03-09 was already closed" in output
    assert "nothing changed" in output
    assert ClosedDay.objects.count() == 1
    assert LevelChange.objects.count() == 1
    level_5_domain.refresh_from_db()
    assert level_5_domain.level == 4


def test_it_catches_up_missed_days_in_order(level_5_domain):
    for days_ago in (3, 2, 1):
        bad_day(level_5_domain, TODAY - dt.timedelta(days=days_ago))

    output = evaluate()

    assert output.splitlines() == [
        "Closed 2030-03-07: 1 domain(s) evaluated, 1 downgraded.",
        "Closed 2030-03-08: 1 domain(s) evaluated, 1 downgraded.",
        "Closed 2030-03-09: 1 domain(s) evaluated, 1 downgraded.",
    ]
    level_5_domain.refresh_from_db()
    assert level_5_domain.level == 2
    changes = LevelChange.objects.order_by("effective_at")
    assert [(c.day.isoformat(), c.from_level, c.to_level) for c in changes] == [
        ("2030-03-07", 5, 4), ("2030-03-08", 4, 3), ("2030-03-09", 3, 2),
    ]


def test_a_date_closes_the_days_before_it_first_and_leaves_later_ones_open(level_5_domain):
    for days_ago in (3, 2, 1):
        bad_day(level_5_domain, TODAY - dt.timedelta(days=days_ago))

    output = evaluate("--date", "2030-03-08")

    assert output.splitlines() == [
        "Closed 2030-03-07: 1 domain(s) evaluated, 1 downgraded.",
        "Closed 2030-03-08: 1 domain(s) evaluated, 1 downgraded.",
    ]
    assert list(ClosedDay.objects.order_by("day").values_list("day", flat=True)) == [
        dt.date(2030, 3, 7), dt.date(2030, 3, 8),
    ]
    level_5_domain.refresh_from_db()
    assert level_5_domain.level == 3


def test_a_day_without_mail_is_closed_with_nothing_to_evaluate(db):
    assert evaluate("--date", "2030-01-31") == "Closed 2030-01-31: 0 domain(s) evaluated, 0 downgraded.\n"


@pytest.mark.parametrize("raw", ["2030-03-10", "2030-03-11", "2031-01-01"])
def test_it_refuses_today_and_future_days(level_5_domain, raw):
    bad_day(level_5_domain, TODAY - dt.timedelta(days=1))

    with pytest.raises(CommandError, match="has not ended yet"):
        evaluate("--date", raw)

    assert ClosedDay.objects.count() == 0
    assert LevelChange.objects.count() == 0


@pytest.mark.parametrize("raw", ["yesterday", "2030-3-9", "2030-02-30", "09/03/2030", "2030-03-09T00:00", ""])
def test_it_rejects_a_malformed_date(level_5_domain, raw):
    bad_day(level_5_domain, TODAY - dt.timedelta(days=1))

    with pytest.raises(CommandError, match="--date must be a date as YYYY-MM-DD"):
        evaluate("--date", raw)

    assert ClosedDay.objects.count() == 0
    level_5_domain.refresh_from_db()
    assert level_5_domain.level == 5
