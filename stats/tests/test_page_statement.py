"""The statistics page reads its figures, the mailbox types and the domain check in one statement
(stats.queries.statistics_page), filtered by a domain or not, inside the account only."""

import datetime as dt
import re

import pytest
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


@pytest.mark.parametrize("domain, mailbox_type", [
    (None, None), (None, SIM), (None, "gmail.com"), ("mail.alice.example", None), (" MAIL.Alice.example ", SIM),
    ("news.alice.example", None), ("news.alice.example", "gmail.com"), ("news.alice.example", SIM),
])
def test_the_page_statement_gives_what_the_separate_queries_give(known_traffic, account, domain, mailbox_type):
    news = create_domain(account, "news.alice.example")
    volume(account, news, "gmail.com", YESTERDAY, requested=5, sent=5, delivered=4, invalid=1)
    volume(account, known_traffic, "gmail.com", TODAY, requested=2, sent=2, delivered=2)

    with CaptureQueriesContext(connection) as run:
        page = queries.statistics_page(account, YESTERDAY - dt.timedelta(days=3), TODAY, domain, mailbox_type)
    assert len(run) == 1
    assert page.daily == queries.daily_volumes(account, YESTERDAY - dt.timedelta(days=3), TODAY, domain, mailbox_type)
    assert page.mailbox_types == queries.mailbox_types(account) == ["gmail.com", SIM]
    assert page.domain_known is True

    without_types = queries.statistics_page(account, YESTERDAY, TODAY, domain, mailbox_type, with_mailbox_types=False)
    assert without_types.mailbox_types is None
    assert without_types.daily == page.daily[-2:] and without_types.domain_known is True


def test_the_domain_filter_sums_the_domains_mailbox_types_by_day(known_traffic, account):
    volume(account, known_traffic, "gmail.com", TODAY, requested=2, sent=2, delivered=2)
    page = queries.statistics_page(account, TODAY, TODAY, "mail.alice.example")
    [(day, totals)] = page.daily
    assert day == TODAY and totals.requested == EXPECTED["requested"] + 2 and totals.delivered == EXPECTED["delivered"] + 2


def test_another_accounts_domain_is_not_known_and_gives_nothing(known_traffic, account, other_account):
    theirs = create_domain(other_account, "mail.charlie.example")
    volume(other_account, theirs, SIM, TODAY, requested=50, sent=50)
    for mailbox_type in (None, SIM):
        page = queries.statistics_page(account, TODAY, TODAY, "mail.charlie.example", mailbox_type)
        assert page.domain_known is False
        assert page.daily == [(TODAY, Totals())]
        assert page.mailbox_types == [SIM]  # mine, not theirs
    # And the other way round: my domain in their account.
    page = queries.statistics_page(other_account, TODAY, TODAY, "mail.alice.example")
    assert (page.domain_known, page.daily, page.mailbox_types) == (False, [(TODAY, Totals())], [SIM])
    assert queries.statistics_page(account, TODAY, TODAY, "nothing.example").domain_known is False


def test_a_domain_without_traffic_yet_is_known_with_zeros(account, verified_domain):
    page = queries.statistics_page(account, YESTERDAY, TODAY, verified_domain.name)
    assert page.domain_known is True
    assert page.daily == [(YESTERDAY, Totals()), (TODAY, Totals())]
    assert page.mailbox_types == []


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def test_the_page_filtered_by_a_domain_asks_the_database_once_for_its_figures(known_traffic, signed_in):
    signed_in.get("/stats/")  # the first request of a client may read more (session, language)
    with CaptureQueriesContext(connection) as plain:
        assert signed_in.get("/stats/").status_code == 200
    with CaptureQueriesContext(connection) as filtered:
        response = signed_in.get("/stats/", {"domain": "mail.alice.example"})
    assert response.status_code == 200
    assert len(filtered) == len(plain)
    assert f'<option value="{SIM}">' in response.content.decode()  # the select's types came with it


def test_the_page_refuses_another_accounts_domain_with_a_mailbox_type_too(known_traffic, client, outsider, other_account):
    theirs = create_domain(other_account, "mail.charlie.example")
    volume(other_account, theirs, SIM, TODAY, requested=50, sent=50)
    client.force_login(outsider)
    response = client.get("/stats/", {"domain": "mail.alice.example", "mailbox_type": SIM})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice. mail.alice.example is not one of the available choices." in html
    assert 'id="stats-table"' not in html
    # Their own domain is fine.
    assert client.get("/stats/", {"domain": "mail.charlie.example", "mailbox_type": SIM}).status_code == 200


# --- names typed with non-ASCII letters: sender domains and mailbox types are stored as A-labels ---


def test_a_domain_typed_in_unicode_filters_by_its_a_label(signed_in, account, other_account):
    idn = create_domain(account, "Bücher.example")
    assert idn.name == "xn--bcher-kva.example"
    volume(account, idn, "xn--mller-kva.example", TODAY, requested=7, sent=7, delivered=7)
    for typed in ("bücher.example", " BÜCHER.example ", "xn--bcher-kva.example"):
        page = queries.statistics_page(account, TODAY, TODAY, typed)
        assert page.domain_known and page.daily[0][1].requested == 7, typed
    assert queries.daily_volumes(account, TODAY, TODAY, "bücher.example", "müller.example")[0][1].requested == 7
    assert queries.statistics_page(account, TODAY, TODAY, "☃.example").domain_known is False

    response = signed_in.get("/stats/", {"domain": "Bücher.example"})
    assert response.status_code == 200 and 'id="stats-table"' in response.content.decode()
    assert re.findall(r'<option value="([^"]*)">', signed_in.get("/stats/domains/", {"domain": "bücher"})
                      .content.decode()) == ["xn--bcher-kva.example"]
    # Another account's Unicode-named domain is as unknown as any other of theirs.
    create_domain(other_account, "straße.example")
    assert signed_in.get("/stats/", {"domain": "straße.example"}).status_code == 400
    assert signed_in.get("/stats/domains/", {"domain": "straße"}).content.decode().count("<option") == 0
