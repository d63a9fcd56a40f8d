"""stats.export: the CSV holds a row per day and a totals row that match the known traffic."""

import csv
import datetime as dt
import io
from fractions import Fraction

from django.http import StreamingHttpResponse

from domains.services import create_domain
from stats import export
from stats.tests import traffic
from stats.tests.traffic import SIM, TODAY, volume

clock = traffic.clock
known_traffic = traffic.known_traffic
sender = traffic.sender
template = traffic.template
YESTERDAY = TODAY - dt.timedelta(days=1)


def read(lines) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(lines))))


def test_the_csv_has_a_row_per_day_and_a_totals_row_with_the_known_numbers(known_traffic, account):
    rows = read(export.csv_lines(account, YESTERDAY, TODAY))
    assert [r["date"] for r in rows] == [YESTERDAY.isoformat(), TODAY.isoformat(), "total"]
    assert rows[0]["requested"] == "0" and rows[0]["delivery_rate"] == "0.00"
    expected = {
        "requested": "19", "accepted": "19", "delivered": "16", "opened": "4", "clicked": "1", "bounces": "3",
        "unsubscribed": "1", "invalid": "2", "spam": "1", "other_bounces": "0", "complaints": "1",
        # invalid 2/19 sent, delivery 16/19 sent, spam 1/19 sent; complaints 1/16 and opens 4/16 of delivered
        "invalid_rate": "10.53", "delivery_rate": "84.21", "spam_rate": "5.26",
        "complaint_rate": "6.25", "open_rate": "25.00",
    }
    assert {k: rows[1][k] for k in expected} == expected
    assert {k: rows[2][k] for k in expected} == expected


def test_the_totals_row_is_the_sum_of_the_days_with_rates_from_the_sums(account, verified_domain):
    volume(account, verified_domain, "gmail.com", YESTERDAY, requested=10, sent=10, delivered=10, opened=10)
    volume(account, verified_domain, "gmail.com", TODAY, requested=30, sent=30, delivered=30)
    total = read(export.csv_lines(account, YESTERDAY, TODAY))[-1]
    assert (total["requested"], total["delivered"], total["opened"], total["open_rate"]) == ("40", "40", "10", "25.00")


def test_the_csv_applies_the_same_filters_as_the_page(known_traffic, account):
    other = create_domain(account, "news.alice.example")
    volume(account, other, "gmail.com", TODAY, requested=5, sent=5)
    assert read(export.csv_lines(account, TODAY, TODAY))[-1]["requested"] == "24"
    assert read(export.csv_lines(account, TODAY, TODAY, domain="news.alice.example"))[-1]["requested"] == "5"
    assert read(export.csv_lines(account, TODAY, TODAY, mailbox_type=SIM))[-1]["requested"] == "19"


def test_an_outsiders_csv_holds_only_zeros_even_when_naming_another_accounts_domain(known_traffic, other_account):
    rows = read(export.csv_lines(other_account, TODAY, TODAY, domain="mail.alice.example"))
    assert [(r["date"], r["requested"], r["delivered"]) for r in rows] == [(TODAY.isoformat(), "0", "0"),
                                                                            ("total", "0", "0")]


def test_the_lines_stream_through_a_streaming_response(known_traffic, account):
    response = StreamingHttpResponse(export.csv_lines(account, YESTERDAY, TODAY), content_type="text/csv")
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0] == ",".join(export.HEADER)
    assert len(body.splitlines()) == 4


def test_rates_round_half_up_to_two_decimals():
    assert export.format_rate(Fraction(12345, 1000)) == "12.35"
    assert export.format_rate(Fraction(1, 3)) == "0.33"
    assert export.format_rate(Fraction(100)) == "100.00"


def test_the_filename_names_the_range_and_filters():
    assert export.filename(YESTERDAY, TODAY) == "statistics_2026-05-31_2026-06-01.csv"
    assert export.filename(TODAY, TODAY, "mail.alice.example", "gmail.com") == (
        "statistics_2026-06-01_2026-06-01_mail.alice.example_gmail.com.csv"
    )
    assert export.filename(TODAY, TODAY, 'x"; rm', None) == "statistics_2026-06-01_2026-06-01_xrm.csv"
