"""Migration 0004 copies the sessions in force: one signed in before the console's backend was named
(Django's ModelBackend recorded in it, as every session made before the upgrade) stays signed in."""

import importlib

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoDbSessionStore
from django.db import connection
from django.test import Client

from accounts.backends import SessionStore
from accounts.models import Session

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def old_session(user, backend: str, **more) -> DjangoDbSessionStore:
    """A session as django.contrib.sessions' database store saved it before the upgrade."""
    old = DjangoDbSessionStore()
    old.cycle_key()
    old.update({"_auth_user_id": str(user.pk), "_auth_user_backend": backend,
                "_auth_user_hash": user.get_session_auth_hash(), **more})
    old.save()
    return old


def migrate():
    migration = importlib.import_module("accounts.migrations.0004_session")
    migration.copy_sessions_in_force(apps, type("Editor", (), {"connection": connection})())


def signed_in(session_key: str) -> bool:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session_key
    return client.get("/stats/").status_code == 200


def test_a_session_signed_in_with_djangos_model_backend_stays_signed_in(owner):
    old = old_session(owner, MODEL_BACKEND, note="kept")
    migrate()
    assert list(Session.objects.values_list("session_key", "user_id")) == [(old.session_key, owner.pk)]
    assert signed_in(old.session_key)
    data = SessionStore(old.session_key).load()
    assert data["_auth_user_backend"] == "accounts.backends.ConsoleBackend"
    assert data["note"] == "kept" and data["_auth_user_id"] == str(owner.pk)


def test_a_session_of_the_console_backend_is_copied_as_it_is(owner, member):
    console = old_session(owner, "accounts.backends.ConsoleBackend")
    unknown = old_session(member, "some.removed.Backend")
    stored = dict(DjangoDbSessionStore.get_model_class().objects.values_list("session_key", "session_data"))
    migrate()
    copied = dict(Session.objects.values_list("session_key", "session_data"))
    assert copied == stored  # untouched data
    assert signed_in(console.session_key)
    assert not signed_in(unknown.session_key)  # a backend no longer listed still signs nobody in
