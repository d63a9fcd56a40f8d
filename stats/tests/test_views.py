"""The statistics page: charts, thresholds, totals and the CSV from known simulator traffic (SPEC §5)."""

import csv
import datetime as dt
import io
import json
import re
from copy import deepcopy

import pytest

from domains.models import DailyVolume
from domains.services import create_domain
from stats.tests import traffic
from stats.tests.traffic import SIM, TODAY, volume

clock = traffic.clock
known_traffic = traffic.known_traffic
sender = traffic.sender
template = traffic.template

RATE_NAMES = ("invalid_rate", "delivery_rate", "spam_rate", "complaint_rate", "open_rate")


def chart(response, element_id: str) -> dict:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', response.content.decode(), re.S)
    assert match, f"no {element_id} block"
    return json.loads(match.group(1))


def series(figure: dict) -> dict[str, list]:
    return {trace["name"]: trace["y"] for trace in figure["data"]}


def table(response) -> list[list[str]]:
    html = re.search(r'<table class="table" id="stats-table">(.*?)</table>', response.content.decode(), re.S).group(1)
    body = html.split("</thead>", 1)[1]
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def test_the_page_draws_the_known_traffic_in_the_volume_chart(known_traffic, signed_in):
    response = signed_in.get("/stats/")
    assert response.status_code == 200
    volumes = chart(response, "volume-chart-data")
    days = volumes["data"][0]["x"]
    # The last 30 days by default, today the last of them.
    assert len(days) == 30 and days[-1] == TODAY.isoformat() and days[0] == (TODAY - dt.timedelta(29)).isoformat()
    today = {name: values[-1] for name, values in series(volumes).items()}
    assert today == {
        "Requested": 19, "Sent": 19, "Delivered": 16, "Bounced": 3, "Opened": 4, "Clicked": 1, "Unsubscribed": 1,
    }
    assert all(values[0] == 0 for values in series(volumes).values())


def test_the_rate_chart_plots_the_five_rates_with_the_spec_denominators(known_traffic, signed_in):
    rates = chart(signed_in.get("/stats/"), "rate-chart-data")
    today = {name: values[-1] for name, values in series(rates).items()}
    # invalid 2, delivered 16, spam 1 of 19 sent; complaints 1 and opens 4 of 16 delivered
    assert today == pytest.approx({
        "Invalid address rate": 200 / 19, "Delivery rate": 1600 / 19, "Spam bounce rate": 100 / 19,
        "Complaint rate": 100 / 16, "Open rate": 400 / 16,
    }, abs=1e-3)


def thresholds_drawn(figure: dict) -> set[tuple[str, float]]:
    """(annotation text, y) of each horizontal threshold line."""
    lines = [s for s in figure["layout"]["shapes"] if s["y0"] == s["y1"]]
    labels = [a["text"] for a in figure["layout"]["annotations"] if re.match(r"[A-Z]\d+ ", a["text"])]
    assert len(lines) == len(labels)
    return {(label, line["y0"]) for label, line in zip(labels, lines, strict=True)}


def test_every_rate_threshold_of_the_settings_is_drawn_as_a_line(known_traffic, signed_in, settings):
    drawn = thresholds_drawn(chart(signed_in.get("/stats/"), "rate-chart-data"))
    expected = {
        (f"{rule} {op} {value}%", float(value))
        for table in ("UPGRADE_RULES", "DOWNGRADE_RULES", "FREEZE_RULES")
        for rule, conditions in settings.SES_REPUTATION[table].items()
        for metric, op, value in conditions
        if metric in RATE_NAMES
    }
    assert drawn == expected
    assert ("U1 < 5%", 5.0) in drawn and ("F2 > 15%", 15.0) in drawn and ("D4 > 0.5%", 0.5) in drawn


def test_a_tuned_threshold_moves_its_line(known_traffic, signed_in, settings):
    tuned = deepcopy(settings.SES_REPUTATION)
    tuned["FREEZE_RULES"]["F1"] = [("sent", ">", "300"), ("invalid_rate", ">", "12.5")]
    settings.SES_REPUTATION = tuned
    drawn = thresholds_drawn(chart(signed_in.get("/stats/"), "rate-chart-data"))
    assert ("F1 > 12.5%", 12.5) in drawn and ("F1 > 11%", 11.0) not in drawn


def test_the_totals_table_shows_the_known_traffic(known_traffic, signed_in):
    rows = table(signed_in.get("/stats/"))
    assert len(rows) == 31  # 30 days and the totals row
    assert rows[-1] == ["total", "19", "19", "16", "4", "1", "3", "1", "2", "1", "0", "1",
                        "10.53", "84.21", "5.26", "6.25", "25.00"]


def test_the_table_names_each_rate_as_the_rate_chart_does(known_traffic, signed_in):
    response = signed_in.get("/stats/")
    head = re.search(r'<table class="table" id="stats-table">.*?<thead>(.*?)</thead>', response.content.decode(), re.S)
    titles = re.findall(r"<th[^>]*>(.*?)</th>", head.group(1))
    # The rate columns, in the CSV's order (…_rate), carry the rates' one name: "Invalid address rate" everywhere.
    assert titles[-5:] == ["Invalid address rate", "Delivery rate", "Spam bounce rate", "Complaint rate", "Open rate"]
    assert titles[-5:] == [trace["name"] for trace in chart(response, "rate-chart-data")["data"]]
    assert "Invalid rate" not in titles


def test_the_csv_link_downloads_exactly_the_table_shown(known_traffic, signed_in, account):
    other = create_domain(account, "news.alice.example")
    volume(account, other, "gmail.com", TODAY, requested=5, sent=5, delivered=4)
    url = f"/stats/?start={TODAY - dt.timedelta(2)}&end={TODAY}&domain=mail.alice.example&mailbox_type={SIM}"
    page = signed_in.get(url)
    link = re.search(r'href="(/stats/export\.csv\?[^"]+)"', page.content.decode()).group(1).replace("&amp;", "&")
    response = signed_in.get(link)
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[1:] == table(page)
    assert [row[0] for row in lines[1:]] == [str(TODAY - dt.timedelta(2)), str(TODAY - dt.timedelta(1)), str(TODAY), "total"]
    assert lines[-1][1] == "19"  # the other domain's 5 are filtered out of both


def test_a_filter_change_through_htmx_returns_only_the_results(known_traffic, signed_in, account):
    other = create_domain(account, "news.alice.example")
    volume(account, other, "gmail.com", TODAY, requested=5, sent=5, delivered=5)
    response = signed_in.get("/stats/", {"domain": "news.alice.example"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="stats-results">')
    assert "<html" not in html and 'id="stats-filters"' not in html
    assert series(chart(response, "volume-chart-data"))["Requested"][-1] == 5
    assert table(response)[-1][1] == "5"


def test_the_mailbox_type_filter_narrows_to_one_receiving_domain(known_traffic, signed_in, account):
    volume(account, known_traffic, "gmail.com", TODAY, requested=7, sent=7, delivered=7)
    assert table(signed_in.get("/stats/"))[-1][1] == "26"
    assert table(signed_in.get("/stats/", {"mailbox_type": "gmail.com"}))[-1][1] == "7"
    assert table(signed_in.get("/stats/", {"mailbox_type": SIM}))[-1][1] == "19"


def test_the_date_range_includes_both_ends_and_nothing_outside(signed_in, account, verified_domain):
    for day, count in ((dt.date(2026, 5, 9), 1), (dt.date(2026, 5, 10), 2), (dt.date(2026, 5, 20), 4),
                       (dt.date(2026, 5, 21), 8)):
        volume(account, verified_domain, "gmail.com", day, requested=count, sent=count)
    rows = table(signed_in.get("/stats/", {"start": "2026-05-10", "end": "2026-05-20"}))
    assert rows[0][0] == "2026-05-10" and rows[-2][0] == "2026-05-20"
    assert rows[-1][1] == "6"


def test_a_start_after_the_end_is_refused_with_a_clear_error(known_traffic, signed_in):
    response = signed_in.get("/stats/", {"start": "2026-06-01", "end": "2026-05-01"})
    assert response.status_code == 400
    assert "The start date must not be after the end date." in response.content.decode()
    assert b"volume-chart-data" not in response.content
    csv_response = signed_in.get("/stats/export.csv", {"start": "2026-06-01", "end": "2026-05-01"})
    assert csv_response.status_code == 400


def test_a_malformed_date_is_refused(known_traffic, signed_in):
    response = signed_in.get("/stats/", {"start": "yesterday"})
    assert response.status_code == 400
    assert "Enter a valid date." in response.content.decode()


def test_an_outsider_naming_another_accounts_domain_sees_nothing_of_it(known_traffic, client, outsider, other_account):
    client.force_login(outsider)
    response = client.get("/stats/", {"domain": "mail.alice.example"})
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert "volume-chart-data" not in html and 'id="stats-table"' not in html
    csv_response = client.get("/stats/export.csv", {"domain": "mail.alice.example"})
    assert csv_response.status_code == 400 and b"19" not in csv_response.content
    # Their own page, unfiltered, is all zeros: the other account's traffic is not theirs.
    own = client.get("/stats/")
    assert table(own)[-1][1:12] == ["0"] * 11
    assert "mail.alice.example" not in own.content.decode()
    assert DailyVolume.objects.filter(account=other_account).count() == 0


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in ("/stats/", "/stats/export.csv"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_plotly_js_is_served_from_our_own_static_files(signed_in):
    html = signed_in.get("/stats/").content.decode()
    assert '<script src="/static/plotly/plotly.min.js" defer></script>' in html
    assert "cdn" not in html.lower()


def test_only_the_statistics_page_relaxes_the_style_policy_and_scripts_stay_self(signed_in):
    policy = signed_in.get("/stats/")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self';" in policy + ";"
    assert "unsafe-inline" not in signed_in.get("/api-keys/")["Content-Security-Policy"]


def options(response) -> list[str]:
    return re.findall(r'<option value="([^"]*)">', response.content.decode())


def test_the_domain_box_is_a_search_with_suggestions_not_a_list_of_every_domain(signed_in, account, verified_domain):
    for n in range(30):
        create_domain(account, f"news{n:02d}.alice.example")
    page = signed_in.get("/stats/").content.decode()
    assert '<select name="domain"' not in page and "news07.alice.example" not in page
    assert re.search(r'<input type="text" name="domain"[^>]*list="domain-suggestions"', page)
    assert '<datalist id="domain-suggestions">' in page

    suggested = options(signed_in.get("/stats/domains/", {"domain": "News0"}))
    assert suggested == [f"news0{n}.alice.example" for n in range(10)]
    assert len(options(signed_in.get("/stats/domains/", {"domain": "alice"}))) == 20  # at most 20, in order
    assert options(signed_in.get("/stats/domains/", {"domain": "mail."})) == ["mail.alice.example"]
    assert options(signed_in.get("/stats/domains/", {"domain": "nothing-like-it"})) == []


def test_a_typed_domain_filters_and_an_unknown_one_is_refused(known_traffic, signed_in, account):
    other = create_domain(account, "news.alice.example")
    volume(account, other, "gmail.com", TODAY, requested=5, sent=5, delivered=5)
    assert table(signed_in.get("/stats/", {"domain": " News.Alice.Example "}))[-1][1] == "5"
    response = signed_in.get("/stats/", {"domain": "news.alice.exampel"})
    assert response.status_code == 400
    assert "Select a valid choice. news.alice.exampel is not one of the available choices." in response.content.decode()


def test_an_outsider_gets_no_suggestion_of_another_accounts_domains(known_traffic, client, outsider, other_account):
    create_domain(other_account, "charlie.example")
    client.force_login(outsider)
    assert options(client.get("/stats/domains/", {"domain": ""})) == ["charlie.example"]
    assert options(client.get("/stats/domains/", {"domain": "alice"})) == []
    client.logout()
    assert client.get("/stats/domains/", {"domain": "alice"}).status_code == 302


def test_simulator_mail_that_does_not_count_is_shown_apart_from_the_rules_figures(
    clock, account, sender, template, verified_domain, signed_in
):
    # The default: simulator mail counts against the cap only (SPEC §4.4).
    traffic.send_to_simulator(account, template, traffic.MAILBOXES)

    apart = signed_in.get("/stats/", {"mailbox_type": "simulator"})
    assert '<option value="simulator" selected>' in apart.content.decode()
    assert table(apart)[-1][:4] == ["total", "19", "19", "16"]
    # Everything else, and the rates drawn against the thresholds, hold none of it.
    for everything in (signed_in.get("/stats/"), signed_in.get("/stats/", {"domain": verified_domain.name})):
        assert table(everything)[-1][:4] == ["total", "0", "0", "0"]
        assert all(values[-1] == 0 for values in series(chart(everything, "rate-chart-data")).values())
