"""stats.queries: the numbers every statistics view shows, from known simulator traffic."""

import datetime as dt
from fractions import Fraction

from django.db import connection
from django.test.utils import CaptureQueriesContext

from domains.services import create_domain
from stats import queries
from stats.queries import Totals
from stats.tests import traffic
from stats.tests.traffic import EXPECTED, SIM, TODAY, volume

clock = traffic.clock
known_traffic = traffic.known_traffic
sender = traffic.sender
template = traffic.template
YESTERDAY = TODAY - dt.timedelta(days=1)


def test_known_simulator_traffic_adds_up_to_exactly_the_expected_totals(known_traffic, account):
    assert queries.overall(account, TODAY, TODAY).as_dict() == EXPECTED
    assert queries.overall(account, TODAY, TODAY).bounces == 3


def test_the_rates_use_sent_for_invalid_delivery_and_spam_and_delivered_for_complaints_and_opens(
    known_traffic, account
):
    rates = queries.overall(account, TODAY, TODAY).rates()
    assert rates == {
        "invalid_rate": Fraction(200, 19),
        "delivery_rate": Fraction(1600, 19),
        "spam_rate": Fraction(100, 19),
        "complaint_rate": Fraction(100, 16),
        "open_rate": Fraction(25),
    }


def test_a_rate_with_nothing_to_divide_by_is_zero():
    assert set(Totals().rates().values()) == {Fraction(0)}


def test_every_day_of_the_range_is_listed_with_zeros_for_quiet_days(known_traffic, account):
    days = queries.daily_volumes(account, TODAY - dt.timedelta(days=2), TODAY + dt.timedelta(days=1))
    assert [day for day, _ in days] == [TODAY - dt.timedelta(days=2), YESTERDAY, TODAY, TODAY + dt.timedelta(days=1)]
    assert [totals.as_dict() for _, totals in days] == [Totals().as_dict(), Totals().as_dict(), EXPECTED,
                                                         Totals().as_dict()]


def test_daily_volumes_is_one_query_however_long_the_range(known_traffic, account):
    with CaptureQueriesContext(connection) as queries_run:
        days = queries.daily_volumes(account, TODAY - dt.timedelta(days=364), TODAY)
    assert len(days) == 365
    assert len(queries_run) == 1


def test_the_domain_filter_keeps_only_that_domain(known_traffic, account):
    second = create_domain(account, "news.alice.example")
    volume(account, second, "gmail.com", TODAY, requested=5, sent=5, delivered=4, invalid=1)
    assert queries.overall(account, TODAY, TODAY).requested == 24
    assert queries.overall(account, TODAY, TODAY, domain="mail.alice.example").as_dict() == EXPECTED
    assert queries.overall(account, TODAY, TODAY, domain="news.alice.example").as_dict() == Totals(
        requested=5, accepted=5, delivered=4, invalid=1
    ).as_dict()
    assert queries.overall(account, TODAY, TODAY, domain="nothing.example") == Totals()


def test_the_mailbox_type_filter_keeps_only_that_recipient_domain(known_traffic, account):
    volume(account, known_traffic, "gmail.com", YESTERDAY, requested=7, sent=7, delivered=7, opened=2)
    assert queries.overall(account, YESTERDAY, TODAY, mailbox_type=SIM).as_dict() == EXPECTED
    days = queries.daily_volumes(account, YESTERDAY, TODAY, mailbox_type="gmail.com")
    assert [(day, totals.delivered, totals.opened) for day, totals in days] == [(YESTERDAY, 7, 2), (TODAY, 0, 0)]


def test_filter_values_are_matched_regardless_of_case(known_traffic, account):
    assert queries.overall(account, TODAY, TODAY, domain="MAIL.Alice.example", mailbox_type=SIM.upper()).requested == 19


def test_the_range_is_inclusive_at_both_ends(account, verified_domain):
    volume(account, verified_domain, "gmail.com", YESTERDAY, requested=1)
    volume(account, verified_domain, "gmail.com", TODAY, requested=2)
    volume(account, verified_domain, "gmail.com", TODAY + dt.timedelta(days=1), requested=4)
    assert queries.overall(account, YESTERDAY, TODAY).requested == 3
    assert queries.overall(account, TODAY, TODAY).requested == 2


def test_an_outsider_sees_nothing_of_another_account_even_with_its_filters(known_traffic, account, other_account):
    create_domain(other_account, "mail.charlie.example")
    assert queries.overall(other_account, TODAY, TODAY) == Totals()
    assert queries.overall(other_account, TODAY, TODAY, domain="mail.alice.example", mailbox_type=SIM) == Totals()
    assert all(t == Totals() for _, t in queries.daily_volumes(other_account, TODAY, TODAY, domain="mail.alice.example"))
    assert queries.mailbox_types(other_account) == []
    assert queries.domain_names(other_account) == ["mail.charlie.example"]


def test_another_accounts_domain_name_matches_nothing_in_mine(known_traffic, account, other_account):
    theirs = create_domain(other_account, "mail.charlie.example")
    volume(other_account, theirs, SIM, TODAY, requested=50, sent=50)
    assert queries.overall(account, TODAY, TODAY, domain="mail.charlie.example") == Totals()
    assert queries.overall(account, TODAY, TODAY).requested == 19


def test_the_filter_choices_are_the_accounts_own_domains_and_mailbox_types(known_traffic, account):
    create_domain(account, "news.alice.example")
    volume(account, known_traffic, "gmail.com", YESTERDAY, requested=1)
    assert queries.domain_names(account) == ["mail.alice.example", "news.alice.example"]
    assert queries.mailbox_types(account) == ["gmail.com", SIM]
