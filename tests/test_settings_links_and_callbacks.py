"""The settings of issue 12's link expiry and callback timeout refuse nonsense at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings


def start(**env: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh interpreter, as a process starting up does."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "sesconsole.settings", **env},
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("SES_CLICK_TOKEN_DAYS", "0"), ("SES_CLICK_TOKEN_DAYS", "ninety"), ("SES_CLICK_TOKEN_DAYS", "3651"),
     ("SES_CALLBACK_TIMEOUT_SECONDS", "0"), ("SES_CALLBACK_TIMEOUT_SECONDS", "5s")],
)
def test_a_nonsense_value_stops_the_process_with_the_settings_name(name, value):
    result = start(**{name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_sensible_values_start():
    assert start(SES_CLICK_TOKEN_DAYS="3650", SES_CALLBACK_TIMEOUT_SECONDS="2").returncode == 0


def test_the_defaults_are_ninety_days_and_five_seconds():
    assert (settings.SES_CLICK_TOKEN_DAYS, settings.SES_CALLBACK_TIMEOUT_SECONDS) == (90, 5)
