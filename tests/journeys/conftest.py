"""What the journeys share: a real Chromium, a worker the test drives, screenshots and axe-core.

- `journey` is a Playwright page (1280×900) in headless Debian Chromium. Every page a journey
  visits can be checked with `journey.check(name)`: a screenshot under test-output/journeys/, the
  page at 375 px wide without sideways scrolling, no Content-Security-Policy violation, and axe-core
  (node_modules/axe-core, installed by `bin/dev test` from package-lock.json) with no serious or
  critical violation. The axe results of every check are written beside the screenshots.
- `worker` stands in for the Celery workers: tasks the console sends (`.delay`) are collected instead
  of going to the broker, and `worker.work()` runs them, and the tasks they send, with the real task
  code in this process. The broker is the edge of the machine; everything behind it is the product.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path

import pytest
from celery.app.task import Task
from django.conf import settings

from core import queues
from tests.browser import launched
from tests.needs import missing

OUTPUT = Path(os.environ.get("SES_TEST_OUTPUT", Path(settings.BASE_DIR) / "test-output")) / "journeys"
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# What axe reports at these impacts fails a journey; "minor" and "moderate" are written down only.
FAILING_IMPACTS = {"serious", "critical"}
PHONE_WIDTH = 375
PASSWORD = "correct horse 42"


class Worker:
    """Collects the tasks the code under test sends and runs them when the test says so.

    A task sent for later (countdown or eta) waits in `later`: the journeys do not move the clock,
    so it would not have run yet either.
    """

    def __init__(self) -> None:
        self.queue: deque[tuple[Task, tuple, dict]] = deque()
        self.later: list[tuple[Task, tuple, dict, dict]] = []
        self.ran: list[str] = []

    def apply_async(self, task: Task, args=None, kwargs=None, **options):
        # It stands in for every worker role, so it takes every queue; a task on a queue that no worker
        # consumes (core/queues.py) would never run in production.
        queue = options.get("queue") or task.app.amqp.router.route(options, task.name)["queue"].name
        assert queue in queues.ALL, f"{task.name} goes to {queue!r}, which no worker consumes"
        entry = (task, tuple(args or ()), dict(kwargs or {}))
        if options.get("countdown") or options.get("eta"):
            self.later.append((*entry, options))
        else:
            self.queue.append(entry)

    def step(self) -> bool:
        """Run one queued task; False when there was none."""
        if not self.queue:
            return False
        task, args, kwargs = self.queue.popleft()
        task.run(*args, **kwargs)
        self.ran.append(task.name)
        return True

    def work(self, limit: int = 10_000) -> int:
        """Run queued tasks (and those they send) until none is left; returns how many ran."""
        count = 0
        while count < limit and self.step():
            count += 1
        return count


@pytest.fixture
def worker(monkeypatch) -> Worker:
    worker = Worker()

    def apply_async(self, args=None, kwargs=None, **options):
        worker.apply_async(self, args, kwargs, **options)

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return worker


class Journey:
    def __init__(self, page, live_server, name: str):
        self.page = page
        self.live_server = live_server
        self.name = name
        self.csp_errors: list[str] = []
        self.axe_results: dict[str, list[dict]] = {}
        page.on("console", lambda msg: "Content Security Policy" in msg.text and self.csp_errors.append(msg.text))

    def url(self, path: str) -> str:
        return f"{self.live_server.url}{path}"

    def goto(self, path: str):
        response = self.page.goto(self.url(path))
        assert response is not None and response.status < 400, (path, response and response.status)
        return response

    def sign_in(self, email: str, password: str = PASSWORD, *, then: str = "/dashboard/") -> None:
        self.goto("/login/")
        self.page.fill("#id_username", email)
        self.page.fill("#id_password", password)
        self.page.locator("#id_password").press("Enter")
        self.page.wait_for_url(self.url(then))

    def screenshot(self, step: str) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{self.name}-{step}.png"
        self.page.screenshot(path=path, full_page=True)
        assert path.stat().st_size > 5_000, f"{path} looks blank"
        return path

    def at_phone_width(self, step: str) -> list[dict]:
        """No sideways scroll at 375 px, and axe's violations at that width (tables overflow only there)."""
        size = self.page.viewport_size
        self.page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
        try:
            # Charts redraw for the new width after their resize debounce, later on a busy machine:
            # the page gets up to 10 s to settle before its width is judged.
            width = self.page.evaluate("document.documentElement.scrollWidth")
            for _ in range(40):
                if width <= PHONE_WIDTH:
                    break
                self.page.wait_for_timeout(250)
                width = self.page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE_WIDTH:
                widest = self.page.evaluate(WIDEST_ELEMENTS_JS)
                pytest.fail(f"{self.page.url} scrolls sideways at {PHONE_WIDTH} px ({width} px wide): {widest}")
            return self.axe(f"{step}-{PHONE_WIDTH}")
        finally:
            self.page.set_viewport_size(size)

    def axe(self, step: str) -> list[dict]:
        if not AXE.exists():
            missing(f"axe-core at {AXE} (bin/dev test installs it with npm ci)")
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated through DevTools, not as a page script: the page's CSP stays as it is.
            self.page.evaluate(AXE.read_text() + "\n;0")
        result = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
            }"""
        )
        self.axe_results[step] = result
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / f"{self.name}-{step}.axe.json").write_text(json.dumps(result, indent=2))
        return result

    def keyboard_reaches_every_control(self) -> None:
        """Tab from the top of the page reaches every visible control of every form, in turn."""
        controls = self.page.evaluate(MARK_CONTROLS_JS)
        if not controls:
            return
        self.page.evaluate("document.activeElement && document.activeElement.blur()")
        self.page.locator("body").focus()
        reached: set[str] = set()
        for _ in range(len(controls) * 3 + 80):
            self.page.keyboard.press("Tab")
            mark = self.page.evaluate("document.activeElement && document.activeElement.dataset.kb")
            if mark:
                reached.add(mark)
            if reached >= set(controls):
                break
        missed = [controls[mark] for mark in controls if mark not in reached]
        assert missed == [], f"{self.page.url}: not reachable with Tab: {missed}"

    def check(self, step: str) -> None:
        """Screenshot, phone width, CSP and accessibility (at both widths) of the page as it is now."""
        self.screenshot(step)
        self.keyboard_reaches_every_control()
        violations = self.axe(step) + self.at_phone_width(step)
        assert self.csp_errors == [], self.csp_errors
        failing = [v for v in violations if v["impact"] in FAILING_IMPACTS]
        assert failing == [], f"axe on {self.page.url}: {json.dumps(failing, indent=2)}"


@pytest.fixture
def browser(monkeypatch):
    with launched(monkeypatch) as browser:
        yield browser


@pytest.fixture
def journey(request, browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="en-US")
    page = context.new_page()
    # Generous: CI machines are small, and a slow page is the benchmarks' business, not a journey's.
    page.set_default_timeout(30_000)
    page.set_default_navigation_timeout(60_000)
    name = request.node.name.removeprefix("test_").replace("_", "-")
    yield Journey(page, live_server, name)
    context.close()


WIDEST_ELEMENTS_JS = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
        (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '') +
        ' ' + Math.round(e.getBoundingClientRect().right))"""

# Marks each visible, enabled control inside a form with data-kb="<n>" and returns {n: description}.
MARK_CONTROLS_JS = """() => {
    const found = {};
    let n = 0;
    document.querySelectorAll('form input, form select, form textarea, form button').forEach(e => {
        if (e.type === 'hidden' || e.disabled) return;
        const box = e.getBoundingClientRect();
        const style = getComputedStyle(e);
        if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') return;
        if (e.type === 'radio' && !e.checked &&
            document.querySelector(`input[type=radio][name="${e.name}"]:checked`)) return;  // arrows move within a group
        e.dataset.kb = String(++n);
        found[String(n)] = e.tagName.toLowerCase() + (e.name ? `[name=${e.name}]` : '') + (e.id ? '#' + e.id : '');
    });
    return found;
}"""
