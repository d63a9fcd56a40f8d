"""GetStatisticsReport through the official SDK against a live server (SPEC §6)."""

import pytest
from tencentcloud.ses.v20201002 import models

from api.tests import test_sdk
from api.tests.test_sdk import request, sdk_client, sdk_error
from stats.tests import traffic
from stats.tests.traffic import EXPECTED_VOLUME, MAILBOXES, TODAY, send_to_simulator

clock = traffic.clock
key = test_sdk.key
known_traffic = traffic.known_traffic
sender = traffic.sender
template = traffic.template


@pytest.fixture
def ses(live_server, key, clock):
    api_key, secret = key
    return sdk_client(live_server, api_key.secret_id, secret)


def test_the_sdk_reads_the_known_traffic_as_volumes(ses, account, sender, template, simulator_counts):
    send_to_simulator(account, template, MAILBOXES)
    got = ses.GetStatisticsReport(request(models.GetStatisticsReportRequest, StartDate="2026-05-31",
                                          EndDate=TODAY.isoformat(), Domain="mail.alice.example"))
    assert [v.SendDate for v in got.DailyVolumes] == ["2026-05-31", "2026-06-01"]
    fields = list(EXPECTED_VOLUME)
    assert {f: getattr(got.DailyVolumes[1], f) for f in fields} == EXPECTED_VOLUME
    assert {f: getattr(got.DailyVolumes[0], f) for f in fields} == dict.fromkeys(fields, 0)
    assert {f: getattr(got.OverallVolume, f) for f in fields} == EXPECTED_VOLUME
    assert got.RequestId


def test_the_sdk_reports_an_unsupported_date_with_its_code(ses):
    error = sdk_error(lambda: ses.GetStatisticsReport(
        request(models.GetStatisticsReportRequest, StartDate="2026-01-01", EndDate=TODAY.isoformat())))
    assert error.code == "FailedOperation.NotSupportDate"
    error = sdk_error(lambda: ses.GetStatisticsReport(
        request(models.GetStatisticsReportRequest, StartDate="2026-06-01", EndDate="2026-05-01")))
    assert error.code == "InvalidParameterValue.WrongDate"
