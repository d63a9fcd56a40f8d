"""The production settings (read from the environment as usual) with the bench URLconf on top."""

from sesconsole.settings import *  # noqa: F403

ROOT_URLCONF = "bench.site.urls"
