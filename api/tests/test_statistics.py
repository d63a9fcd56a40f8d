"""GetStatisticsReport through the signed API: known simulator traffic, date rules, filters, scoping."""

import datetime as dt

import pytest

from api.tests.signing import error_code
from domains.models import DailyVolume
from domains.services import create_domain
from stats.tests import traffic
from stats.tests.traffic import EXPECTED_VOLUME, SIM, TODAY, ZERO_VOLUME, volume

clock = traffic.clock
known_traffic = traffic.known_traffic
sender = traffic.sender
template = traffic.template


def days_ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def report(api, start: str, end: str, **filters) -> dict:
    return api("GetStatisticsReport", {"StartDate": start, "EndDate": end, **filters})


def test_known_simulator_traffic_gives_exactly_the_expected_volumes(api, known_traffic):
    data = report(api, days_ago(2), TODAY.isoformat())
    assert data["DailyVolumes"] == [
        {"SendDate": days_ago(2), **ZERO_VOLUME},
        {"SendDate": days_ago(1), **ZERO_VOLUME},
        {"SendDate": TODAY.isoformat(), **EXPECTED_VOLUME},
    ]
    assert {k: v for k, v in data["OverallVolume"].items() if k != "SendDate"} == EXPECTED_VOLUME


def test_the_overall_volume_sums_every_day_of_the_range(api, account, verified_domain, clock):
    volume(account, verified_domain, "gmail.com", TODAY - dt.timedelta(days=3), requested=4, sent=4, delivered=3,
           invalid=1)
    volume(account, verified_domain, "gmail.com", TODAY, requested=6, sent=5, delivered=4, spam=1, clicked=2)
    overall = report(api, days_ago(5), TODAY.isoformat())["OverallVolume"]
    assert (overall["RequestCount"], overall["AcceptedCount"], overall["DeliveredCount"], overall["BounceCount"],
            overall["ClickedCount"]) == (10, 9, 7, 2, 2)


def test_a_start_exactly_90_days_back_is_served(api, known_traffic):
    data = report(api, days_ago(90), TODAY.isoformat())
    assert len(data["DailyVolumes"]) == 91
    assert data["OverallVolume"]["RequestCount"] == 19


def test_a_start_91_days_back_is_not_supported(api, known_traffic):
    assert error_code(report(api, days_ago(91), TODAY.isoformat())) == "FailedOperation.NotSupportDate"
    assert error_code(report(api, days_ago(91), days_ago(80))) == "FailedOperation.NotSupportDate"


def test_a_date_in_the_future_is_not_supported(api, known_traffic):
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    assert error_code(report(api, TODAY.isoformat(), tomorrow)) == "FailedOperation.NotSupportDate"
    assert error_code(report(api, tomorrow, tomorrow)) == "FailedOperation.NotSupportDate"


def test_an_end_before_the_start_is_a_wrong_date(api, known_traffic):
    data = report(api, TODAY.isoformat(), days_ago(1))
    assert error_code(data) == "InvalidParameterValue.WrongDate"
    assert "before" in data["Error"]["Message"]


@pytest.mark.parametrize("bad", ["2026-6-1", "2026/06/01", "01-06-2026", "2026-02-30", "yesterday", "2026-06-01 00:00:00"])
def test_a_malformed_date_is_a_wrong_date(api, known_traffic, bad):
    assert error_code(report(api, bad, TODAY.isoformat())) == "InvalidParameterValue.WrongDate"
    assert error_code(report(api, TODAY.isoformat(), bad)) == "InvalidParameterValue.WrongDate"


def test_missing_dates_are_named(api, known_traffic):
    data = api("GetStatisticsReport", {"EndDate": TODAY.isoformat()})
    assert error_code(data) == "MissingParameter"
    assert "StartDate" in data["Error"]["Message"]


def test_a_refused_report_writes_nothing(api, known_traffic):
    before = list(DailyVolume.objects.values())
    report(api, days_ago(91), TODAY.isoformat())
    report(api, "nonsense", TODAY.isoformat())
    assert list(DailyVolume.objects.values()) == before


def test_the_domain_and_mailbox_filters_narrow_the_report(api, account, known_traffic):
    second = create_domain(account, "news.alice.example")
    volume(account, second, "gmail.com", TODAY, requested=5, sent=5, delivered=5)
    today = TODAY.isoformat()
    assert report(api, today, today)["OverallVolume"]["RequestCount"] == 24
    assert report(api, today, today, Domain="mail.alice.example")["DailyVolumes"][0]["RequestCount"] == 19
    assert report(api, today, today, Domain="news.alice.example")["OverallVolume"]["DeliveredCount"] == 5
    assert report(api, today, today, ReceivingMailboxType=SIM)["OverallVolume"]["RequestCount"] == 19
    assert report(api, today, today, ReceivingMailboxType="gmail.com")["OverallVolume"]["RequestCount"] == 5
    assert report(api, today, today, Domain="news.alice.example", ReceivingMailboxType=SIM)["OverallVolume"][
        "RequestCount"] == 0
    assert report(api, today, today, Domain="", ReceivingMailboxType="")["OverallVolume"]["RequestCount"] == 24


def test_an_outsider_gets_nothing_of_another_account_even_naming_its_domain(other_api, known_traffic):
    today = TODAY.isoformat()
    for filters in ({}, {"Domain": "mail.alice.example"}, {"ReceivingMailboxType": SIM},
                    {"Domain": "mail.alice.example", "ReceivingMailboxType": SIM}):
        data = report(other_api, today, today, **filters)
        assert data["DailyVolumes"] == [{"SendDate": today, **ZERO_VOLUME}]
        assert {k: v for k, v in data["OverallVolume"].items() if k != "SendDate"} == ZERO_VOLUME
