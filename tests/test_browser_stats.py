"""The statistics page in a real browser: plotly.js from our static files draws both charts under the
CSP, a filter change swaps new charts in with htmx, and the screenshot shows something.

Uses the system Chromium (Debian's `chromium` package); skipped where it is not installed.
"""

import datetime as dt
import struct
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from stats.tests.traffic import volume
from tests import test_browser_console

pytestmark = pytest.mark.browser

browser_page = test_browser_console.browser_page
OUTPUT = Path(settings.BASE_DIR) / "test-output"


def sign_in(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice@example.com")
    page.fill("#id_password", "correct horse 42")
    page.click("main form button[type=submit]")  # not the header's language form
    page.wait_for_load_state()


@pytest.fixture
def some_days_of_traffic(account, verified_domain):
    today = timezone.localdate()
    for back, sent in enumerate((120, 80, 150, 60, 200)):
        day = today - dt.timedelta(days=back)
        volume(account, verified_domain, "gmail.com", day, requested=sent, sent=sent, delivered=sent - 10,
               invalid=6, spam=2, bounced=2, opened=sent // 2, clicked=sent // 5, complaints=1, unsubscribed=1)
    volume(account, verified_domain, "qq.com", today, requested=40, sent=40, delivered=40, opened=30)


def pixel_bytes(png: bytes) -> bytes:
    """The decompressed scanlines of a PNG (its IDAT chunks): enough to tell a drawing from a blank."""
    data, offset = b"", 8
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        if kind == b"IDAT":
            data += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return zlib.decompress(data)


def traces_drawn(page, selector: str) -> int:
    return page.locator(f"{selector} svg.main-svg .scatterlayer .trace").count()


def test_the_statistics_page_draws_its_charts(
    transactional_db, live_server, owner, some_days_of_traffic, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1200, "height": 900})
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/stats/")
    page.locator("#volume-chart svg.main-svg").first.wait_for()
    page.locator("#rate-chart svg.main-svg").first.wait_for()

    assert traces_drawn(page, "#volume-chart") == 7  # requested, sent, delivered, bounced, opened, clicked, unsubscribed
    assert traces_drawn(page, "#rate-chart") == 5
    assert page.locator("#rate-chart .shapelayer path").count() >= 12  # the threshold lines
    box = page.locator("#volume-chart").bounding_box()
    assert box["width"] > 600 and box["height"] > 300

    OUTPUT.mkdir(exist_ok=True)
    shot = page.locator("#volume-chart").screenshot(path=OUTPUT / "stats-volume-chart.png")
    page.screenshot(path=OUTPUT / "stats-page.png", full_page=True)
    # A blank (one-colour) image filters to runs of a byte or two; lines, labels and grid give many values.
    pixels = pixel_bytes(shot)
    assert len(set(pixels)) > 100
    assert sum(1 for b in pixels if b not in (0, 255)) > len(pixels) // 100
    assert page.csp_errors == []


def test_a_filter_change_swaps_new_charts_in_without_a_reload(
    transactional_db, live_server, owner, some_days_of_traffic, browser_page
):
    page = browser_page
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/stats/")
    page.locator("#volume-chart svg.main-svg").first.wait_for()
    assert page.locator("#stats-table tfoot td").first.inner_text() == "650"
    page.evaluate("window.noReload = true")

    page.select_option("#id_mailbox_type", "qq.com")
    page.locator("#stats-table tfoot td", has_text="40").first.wait_for()
    page.locator("#volume-chart svg.main-svg").first.wait_for()
    assert traces_drawn(page, "#volume-chart") == 7
    assert page.evaluate("window.noReload") is True  # swapped by htmx, not a new page
    assert "mailbox_type=qq.com" in page.url  # the filtered view can be bookmarked
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.csp_errors == []


def test_the_domain_search_works_by_keyboard(transactional_db, live_server, owner, account, some_days_of_traffic,
                                             browser_page):
    from domains.services import create_domain

    for n in range(25):
        create_domain(account, f"news{n:02d}.alice.example")
    other = create_domain(account, "shop.alice.example")
    volume(account, other, "gmail.com", timezone.localdate(), requested=9, sent=9, delivered=9)
    page = browser_page
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/stats/")
    page.locator("#volume-chart svg.main-svg").first.wait_for()
    page.evaluate("window.noReload = true")

    page.focus("#id_end")
    for _ in range(5):  # Tab walks the date's parts (day, month, year), then into the domain search box
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") != "id_end":
            break
    assert page.evaluate("document.activeElement.id") == "id_domain"
    page.keyboard.type("shop")
    # The suggestions follow what was typed: only the account's matching domains.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#domain-suggestions option')].map(o => o.value).join() "
        "=== 'shop.alice.example'"
    )
    page.keyboard.type(".alice.example")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#stats-table tfoot td').innerText === '9'")
    assert page.locator("#stats-range").inner_text().count("shop.alice.example") == 1
    assert page.evaluate("window.noReload") is True
    assert "domain=shop.alice.example" in page.url
    assert page.csp_errors == []
