"""The console layout: navigation to every page, the frozen banner, pages still to come."""

import pytest
from django.utils import timezone

from accounts.models import AccountFreeze

pytestmark = pytest.mark.django_db

SPEC_PAGES = {
    "Sender domains": "/domains/",
    "Sender addresses": "/addresses/",
    "Templates": "/templates/",
    "Recipient lists": "/lists/",
    "Blacklist": "/blacklist/",
    "Statistics": "/stats/",
    "Batch send": "/batches/",
    "Queue status": "/queue/",
    "Send log": "/log/",
    "API keys": "/api-keys/",
}


def test_the_navigation_leads_to_every_console_page(client, member):
    client.force_login(member)
    html = client.get("/domains/").content.decode()
    for title, url in SPEC_PAGES.items():
        assert f'<a href="{url}"' in html and title in html, title
    for title, url in SPEC_PAGES.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert title in response.content.decode()


def test_the_header_shows_the_account_and_the_user(client, member):
    client.force_login(member)
    html = client.get("/api-keys/").content.decode()
    assert "Alice Co" in html and "bob@example.com" in html
    assert 'action="/logout/"' in html


def test_a_frozen_account_sees_the_banner_with_the_rule_and_metrics(client, owner, account):
    AccountFreeze.objects.create(
        account=account, day=timezone.localdate(), rule="F1",
        metrics={"sent": "400", "invalid_rate": "12.00", "delivery_rate": "80.00", "spam_rate": "1.00",
                 "complaint_rate": "0.00", "open_rate": "0.00"},
    )
    client.force_login(owner)
    html = client.get("/domains/").content.decode()
    assert "Your account is frozen until the end of" in html
    assert "F1: invalid 12.00% of 400 sent" in html
    assert "sending is refused" in html


def test_no_banner_when_the_account_is_not_frozen(client, owner, account, other_account):
    # A freeze of another account, and a lifted freeze of this one, show nothing.
    AccountFreeze.objects.create(account=other_account, day=timezone.localdate(), rule="F1", metrics={})
    AccountFreeze.objects.create(
        account=account, day=timezone.localdate(), rule="F2", metrics={}, lifted_at=timezone.now(),
    )
    client.force_login(owner)
    assert b"Your account is frozen" not in client.get("/domains/").content


def test_pages_load_no_inline_script_or_style_so_the_csp_holds(client, owner):
    client.force_login(owner)
    response = client.get("/domains/")
    html = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "<script>" not in html and " style=" not in html and "<style" not in html
    assert '<script src="/static/django_htmx/htmx-2.min.js"' in html
    assert "hx-headers='{\"X-CSRFToken\"" in html
