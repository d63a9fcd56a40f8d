"""The console in a real browser: the CSP holds, htmx swaps fragments, and a 375 px phone needs no sideways scroll.

Uses the system Chromium (Debian's `chromium` package); skipped where it is not installed.
"""

import pytest
from django.utils import timezone

from domains.models import DomainDay, SenderDomain
from domains.services import records_for
from tests.browser import launched

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_page(monkeypatch):
    with launched(monkeypatch) as browser:
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.csp_errors = []
        page.on("console", lambda msg: "Content Security Policy" in msg.text and page.csp_errors.append(msg.text))
        yield page


def sign_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice@example.com")
    page.fill("#id_password", "correct horse 42")
    page.locator("#id_password").press("Enter")
    page.wait_for_url(f"{live_server.url}/dashboard/")


def test_a_member_signs_in_on_a_phone_and_the_page_fits(
    transactional_db, live_server, owner, verified_domain, browser_page, tmp_path
):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=2)
    DomainDay.objects.create(
        domain=verified_domain, day=timezone.localdate(), level=2, cap=1000, sent=310, delivered=270, invalid=40
    )
    page = browser_page
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/domains/")
    assert page.locator("nav.nav a", has_text="API keys").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.locator("#domains td[data-label=\"Remaining\"]").is_visible()
    page.screenshot(path=tmp_path / "domains-375.png", full_page=True)

    page.goto(f"{live_server.url}/domains/{verified_domain.pk}/")
    page.locator("#level-chart .main-svg").first.wait_for()  # the level-history chart is drawn
    page.screenshot(path=tmp_path / "domain-375.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.csp_errors == []


def test_check_now_swaps_the_records_in_place(
    transactional_db, live_server, owner, verified_domain, browser_page, settings
):
    from domains.tests.test_views_domain_page import DnsStub

    stub = DnsStub({r.host: [r.value] for r in records_for(verified_domain)})
    settings.SES_DNS_NAMESERVERS = ["127.0.0.1"]
    settings.SES_DNS_PORT = stub.port
    settings.SES_DNS_TIMEOUT = 2
    try:
        page = browser_page
        sign_in(page, live_server)
        page.goto(f"{live_server.url}/domains/{verified_domain.pk}/")
        page.evaluate("window.noReload = true")
        page.click("#dns-records button[type=submit]")
        page.locator("#dns-records .badge-ok", has_text="ok").nth(2).wait_for()
        assert page.evaluate("window.noReload") is True  # swapped by htmx, not a new page
        assert page.csp_errors == []
    finally:
        stub.close()
