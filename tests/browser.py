"""The one way the tests start a browser: the system's Chromium, driven by Playwright.

`PLAYWRIGHT_CHROMIUM_EXECUTABLE` names the browser (bin/dev sets /usr/bin/chromium); without it the
first `chromium` on PATH. Playwright cannot download its own browser here, and need not.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest

from tests.needs import missing

# Without the background-networking flags Chromium keeps trying to reach Google on a closed network.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str | None:
    configured = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def launched(monkeypatch):
    """A running Chromium; skipped (failed in CI) where there is none."""
    executable = chromium_path()
    if executable is None:
        missing("Debian's chromium (apt-get install chromium; .ci/run installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM work here is all synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # Inside this block the thread has a running event loop (Playwright's), and Django's
            # connections (asgiref's thread-critical Local) are then kept apart from the thread's
            # plain ones: a connection opened here is no longer seen once the block is left, and would
            # stay open past the last test, so the test database could not be dropped. Close them
            # while they are still seen.
            from django.db import connections

            connections.close_all()
