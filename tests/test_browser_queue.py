"""The queue status page in a real browser: it updates itself while a batch task sends, and stops
polling once nothing moves. Uses the system Chromium (see test_browser_console.py)."""

import time

import pytest

from batches import services
from batches import tasks as batch_tasks
from batches.models import BatchTask
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import make_list, new_task
from sending import tasks as sending_tasks
from sending.models import Message
from tests import test_browser_console
from tests.test_browser_console import sign_in

pytestmark = pytest.mark.browser

browser_page = test_browser_console.browser_page
sender = batch_fixtures.sender
template = batch_fixtures.template


@pytest.fixture
def broker(monkeypatch):
    """No workers here: the test dispatches chunks itself (the broker is the edge of the machine)."""
    monkeypatch.setattr(batch_tasks.dispatch, "delay", lambda task_id: None)
    monkeypatch.setattr(sending_tasks.deliver, "apply_async", lambda args, **options: None)


def test_the_queue_page_follows_a_batch_and_stops_polling_when_it_is_done(
    transactional_db, live_server, owner, account, sender, template, browser_page, broker, settings, tmp_path
):
    settings.SES_BATCH_CHUNK = 2
    task = new_task(account, make_list(account, 4), template)
    assert task.status == BatchTask.SENDING
    page = browser_page
    polls = []
    page.on("request", lambda r: "/queue/" in r.url and r.headers.get("hx-request") and polls.append(time.monotonic()))
    sign_in(page, live_server)

    page.goto(f"{live_server.url}/queue/")
    page.evaluate("window.noReload = true")
    assert page.locator('[data-count="queued"]').inner_text() == "0"
    assert page.locator('[data-count="sending-tasks"]').inner_text() == "1"

    services.dispatch_chunk(task.pk)  # the first two recipients become queued messages
    page.locator('[data-count="queued"]', has_text="2").wait_for(timeout=10_000)
    page.locator('[data-domain="mail.alice.example"]', has_text="2 / 500").wait_for(timeout=10_000)

    services.dispatch_chunk(task.pk)
    Message.objects.filter(pk=Message.objects.order_by("id").first().pk).update(status=Message.SENDING)
    page.locator('[data-count="in-flight"]', has_text="1").wait_for(timeout=10_000)
    page.locator('[data-count="queued"]', has_text="3").wait_for(timeout=10_000)
    page.screenshot(path=tmp_path / "queue-busy.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # The list is exhausted and the workers deliver everything: nothing moves any more.
    assert services.dispatch_chunk(task.pk) == services.DONE
    Message.objects.update(status=Message.DELIVERED)
    page.get_by_text("no longer refreshes").wait_for(timeout=10_000)
    assert page.locator('[data-count="queued"]').inner_text() == "0"
    assert page.locator('[data-count="sending-tasks"]').inner_text() == "0"
    assert page.locator('[data-domain="mail.alice.example"]').inner_text() == "4 / 500"
    assert page.evaluate("window.noReload") is True  # swapped by htmx, never reloaded

    stopped_at = len(polls)
    page.wait_for_timeout(5_000)  # two and a half polling periods
    assert len(polls) == stopped_at
    assert page.csp_errors == []


def test_a_paused_tasks_countdown_ticks_in_the_browser(
    transactional_db, live_server, owner, account, sender, template, browser_page, broker
):
    from sending.tests.send_fixtures import set_sent

    set_sent(sender.domain, 499)
    task = new_task(account, make_list(account, 3), template)
    while services.dispatch_chunk(task.pk) == services.MORE:
        pass
    Message.objects.update(status=Message.DELIVERED)
    page = browser_page
    sign_in(page, live_server)

    page.goto(f"{live_server.url}/queue/")
    countdown = page.locator("time.countdown")
    first = countdown.inner_text()
    page.wait_for_timeout(2_100)

    assert first.startswith("in 23 h 59 min") or first.startswith("in 24 h")
    assert countdown.inner_text() != first  # seconds tick without a request

    for url in ("/batches/", f"/batches/{task.pk}/", "/batches/new/"):  # the task pages fit a phone too
        page.goto(f"{live_server.url}{url}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, url
    assert page.locator("#task-bar").count() == 0  # the form page, last
    assert page.csp_errors == []
