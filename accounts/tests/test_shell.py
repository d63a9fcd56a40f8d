"""What every signed-in console page costs before its own work, and that the shortcuts change nothing.

The shell (accounts.middleware, accounts.context_processors, the navigation in base.html) reads the
session, the user, and the membership with its account and the account's freeze of the day in one
query; the navigation is rendered once per language, page and URL prefix. The timings are in
bench/statistics.py; here, the number of queries and the pages' content.
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import clear_script_prefix, set_script_prefix
from django.utils import timezone, translation
from django.utils.translation import trans_real

from accounts.context_processors import console
from accounts.middleware import load_membership
from accounts.models import AccountFreeze, Membership
from domains.reputation.services import lift_freeze
from sesconsole import catalogs

pytestmark = pytest.mark.django_db

# An empty blacklist: the session with its user, membership, account and freeze (accounts.backends),
# then the page's own count of blocked addresses. It was 6 (the membership, the account and the
# freeze were a query each), then 4, then 3 (the user with its membership, apart from the session).
EMPTY_PAGE_TABLES = ["accounts_session", "sending_suppression"]
EMPTY_PAGE_QUERIES = len(EMPTY_PAGE_TABLES)


def test_an_empty_signed_in_page_asks_the_database_two_things(client, owner, django_assert_num_queries):
    client.force_login(owner)
    client.get("/blacklist/")
    with django_assert_num_queries(EMPTY_PAGE_QUERIES) as captured:
        response = client.get("/blacklist/")
    assert response.status_code == 200 and b"No addresses are blocked." in response.content
    tables = [query["sql"].split(" FROM ", 1)[1].split()[0].strip('"') for query in captured.captured_queries]
    assert tables == EMPTY_PAGE_TABLES


def test_a_frozen_account_costs_no_extra_query_and_shows_the_banner(client, owner, account):
    client.force_login(owner)
    client.get("/blacklist/")
    AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F1",
                                 metrics={"sent": "400", "invalid_rate": "12.00"})
    with CaptureQueriesContext(connection) as captured:
        html = client.get("/blacklist/").content.decode()
    assert len(captured.captured_queries) == EMPTY_PAGE_QUERIES
    assert 'id="freeze-banner"' in html and "F1: invalid 12.00% of 400 sent" in html


def test_the_banner_follows_the_freeze_from_one_page_to_the_next(client, owner, account, staff_user):
    client.force_login(owner)
    assert b"freeze-banner" not in client.get("/stats/").content
    freeze = AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F2", metrics={})
    assert b"freeze-banner" in client.get("/stats/").content
    lift_freeze(freeze, staff_user, "the bad list was removed")
    assert b"freeze-banner" not in client.get("/stats/").content
    # Yesterday's freeze is over.
    AccountFreeze.objects.create(account=account, day=timezone.localdate() - dt.timedelta(days=1), rule="F1",
                                 metrics={})
    assert b"freeze-banner" not in client.get("/stats/").content


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_banner_reads_the_freeze_again_only_after_a_post(method, owner, account):
    # The middleware read the membership (no freeze); the account is frozen during the request.
    request = getattr(RequestFactory(), method)("/addresses/")
    request.user = get_user_model().objects.get(pk=owner.pk)
    request.account = load_membership(request.user).account
    freeze = AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F1", metrics={})
    shown = console(request)["current_freeze"]
    # A GET changes nothing: it shows the state of its start. A POST may have frozen the account.
    assert shown == (freeze if method == "post" else None)


def test_a_member_removed_from_the_account_is_refused_at_once(client, member):
    client.force_login(member)
    assert client.get("/blacklist/").status_code == 200
    Membership.objects.filter(user=member).delete()
    response = client.get("/blacklist/")
    assert response.status_code == 403 and b"Alice Co" not in response.content


def test_a_member_moved_to_another_account_sees_only_that_account(client, member, other_account):
    client.force_login(member)
    assert b"Alice Co" in client.get("/blacklist/").content
    Membership.objects.filter(user=member).update(account=other_account)
    html = client.get("/blacklist/").content.decode()
    assert "Charlie Ltd" in html and "Alice Co" not in html


@pytest.fixture
def compiled_catalogs():
    # As tests/test_i18n.py: a fresh clone has no .mo files until bin/dev compiles them.
    if catalogs.compile_catalogs():
        trans_real._translations = {}
        trans_real._default = None
    yield
    translation.activate("en")


def _nav(html: str) -> str:
    return html.split('<nav class="nav"', 1)[1].split("</nav>", 1)[0]


def test_the_navigation_marks_the_page_in_the_reader_s_language(client, owner, compiled_catalogs):
    client.force_login(owner)
    english = _nav(client.get("/blacklist/").content.decode())
    assert '<a href="/blacklist/" aria-current="page">Blacklist</a>' in english
    assert english.count("aria-current") == 1
    stats = _nav(client.get("/stats/").content.decode())
    assert '<a href="/stats/" aria-current="page">Statistics</a>' in stats and stats.count("aria-current") == 1
    assert '<a href="/blacklist/">Blacklist</a>' in stats
    japanese = _nav(client.get("/blacklist/", headers={"Accept-Language": "ja"}).content.decode())
    assert '<a href="/blacklist/" aria-current="page">ブラックリスト</a>' in japanese
    assert "データ統計" in japanese and "Statistics" not in japanese
    # And English again after Japanese.
    assert _nav(client.get("/blacklist/", headers={"Accept-Language": "en"}).content.decode()) == english


def test_the_navigation_follows_the_url_prefix_the_console_is_served_under(client, owner):
    client.force_login(owner)
    assert '<a href="/stats/"' in _nav(client.get("/blacklist/").content.decode())
    # As the WSGI handler sets it for a console served under /console/ (the test client does not).
    set_script_prefix("/console/")
    try:
        prefixed = _nav(client.get("/blacklist/").content.decode())
    finally:
        clear_script_prefix()
    assert '<a href="/console/stats/"' in prefixed and '<a href="/stats/"' not in prefixed
    assert '<a href="/stats/"' in _nav(client.get("/blacklist/").content.decode())


def test_staff_without_an_account_get_no_navigation(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/blacklist/")
    assert response.status_code == 403 and b'<nav class="nav"' not in response.content
