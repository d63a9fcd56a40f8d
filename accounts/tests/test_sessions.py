"""Sessions with their user in one query, and the sign-in rules that still hold: what a person notices.

accounts.backends: sessions are rows of accounts.Session holding the signed-in user's id; a request
reads its session, user, membership, account and today's freeze in one query, and Django's checks
still apply (inactive users, the session's auth hash, a user deleted or removed from the account).
"""

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore as DjangoDbSessionStore
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.backends import ConsoleBackend, SessionStore
from accounts.middleware import AUTHENTICATING_SESSION, ConsoleAuthenticationMiddleware
from accounts.models import AccountFreeze, Session
from ops import periodic

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse 42"


def _session_key(client: Client) -> str:
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def _same_cookie(client: Client) -> Client:
    other = Client()
    other.cookies[django_settings.SESSION_COOKIE_NAME] = _session_key(client)
    return other


def _signed_in(client: Client) -> bool:
    return client.get("/stats/").status_code == 200


def test_the_settings_use_the_console_sessions_whatever_the_cache():
    assert django_settings.SESSION_ENGINE == "accounts.backends"
    assert django_settings.AUTHENTICATION_BACKENDS == ["accounts.backends.ConsoleBackend"]
    assert "accounts.middleware.ConsoleAuthenticationMiddleware" in django_settings.MIDDLEWARE
    assert "django.contrib.auth.middleware.AuthenticationMiddleware" not in django_settings.MIDDLEWARE
    assert issubclass(ConsoleAuthenticationMiddleware,
                      importlib.import_module("django.contrib.auth.middleware").AuthenticationMiddleware)


def test_signing_in_records_the_user_on_the_session_and_signing_out_ends_it_everywhere(client, owner):
    client.get("/login/")
    assert client.post("/login/", {"username": "alice@example.com", "password": PASSWORD}).status_code == 302
    key = _session_key(client)
    assert Session.objects.get(session_key=key).user_id == owner.pk
    thief = _same_cookie(client)
    assert _signed_in(thief)  # the cookie works anywhere while signed in

    assert client.post("/logout/").status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    response = thief.get("/stats/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("cookie", ["short", "x" * 32, "' OR 1=1 --" + "a" * 20, "é" * 40, "0" * 300])
def test_a_junk_session_cookie_signs_nobody_in_and_writes_nothing(client, owner, cookie):
    client.force_login(owner)
    stranger = Client()
    stranger.cookies[django_settings.SESSION_COOKIE_NAME] = cookie
    response = stranger.get("/stats/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert list(Session.objects.values_list("user_id", flat=True)) == [owner.pk]


def test_a_session_of_nobody_has_no_user():
    store = SessionStore()
    store["note"] = "hello"
    store.save()
    assert Session.objects.get(session_key=store.session_key).user_id is None
    again = SessionStore(store.session_key)
    assert again["note"] == "hello" and again.loaded_user is None


def test_the_session_comes_with_its_user_membership_account_and_todays_freeze_in_one_query(
    client, owner, account, django_assert_num_queries
):
    client.force_login(owner)
    freeze = AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F1", metrics={})
    store = SessionStore(_session_key(client))
    with django_assert_num_queries(1):
        assert store["_auth_user_id"] == str(owner.pk)
        user = store.loaded_user
        assert user == owner and user.membership.account.name == "Alice Co"
        assert user.membership.account.today_freeze == freeze
        token = AUTHENTICATING_SESSION.set(store)
        try:
            assert ConsoleBackend().get_user(str(owner.pk)) is user  # the backend asks nothing more
        finally:
            AUTHENTICATING_SESSION.reset(token)


def test_the_user_read_with_the_session_is_used_only_for_that_user(client, owner, member):
    # The column never overrides the session's signed data: another user's id there changes nothing.
    client.force_login(owner)
    Session.objects.filter(session_key=_session_key(client)).update(user=member)
    store = SessionStore(_session_key(client))
    assert store["_auth_user_id"] == str(owner.pk) and store.loaded_user == member
    token = AUTHENTICATING_SESSION.set(store)
    try:
        assert ConsoleBackend().get_user(str(owner.pk)) == owner
    finally:
        AUTHENTICATING_SESSION.reset(token)
    assert "alice@example.com" in client.get("/stats/").content.decode()


def test_an_expired_session_signs_nobody_in_and_clearsessions_deletes_it(client, owner, member):
    client.force_login(owner)
    other = Client()
    other.force_login(member)
    Session.objects.filter(session_key=_session_key(client)).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get("/stats/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")

    call_command("clearsessions")
    assert list(Session.objects.values_list("user_id", flat=True)) == [member.pk]
    assert _signed_in(other)


def test_the_periodic_job_deletes_the_expired_sessions(client, owner, member):
    client.force_login(owner)
    other = Client()
    other.force_login(member)
    Session.objects.filter(session_key=_session_key(client)).update(expire_date=timezone.now() - dt.timedelta(seconds=1))

    result = periodic.run_job(periodic.job_named("delete_expired_sessions"))
    assert result.ok and result.summary == "1 expired session(s) deleted"
    assert list(Session.objects.values_list("user_id", flat=True)) == [member.pk]
    assert _signed_in(other)


def test_a_password_change_signs_out_the_other_sessions(client, owner):
    # (The console has no password-change page; staff change passwords in the admin.)
    client.force_login(owner)
    assert _signed_in(client)
    owner.set_password("a brand new password 43")
    owner.save()
    key = _session_key(client)
    assert client.get("/stats/").status_code == 302
    assert not Session.objects.filter(session_key=key).exists()  # flushed


def test_a_deactivated_user_is_signed_out(client, owner):
    client.force_login(owner)
    assert _signed_in(client)
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert client.get("/stats/").status_code == 302


def test_a_user_deleted_after_signing_in_is_signed_out(client, owner, staff_user):
    client.force_login(owner)
    assert _signed_in(client)
    owner.delete()  # the ORM deletes the user's sessions with it
    assert client.get("/stats/").status_code == 302

    # A user row deleted behind the ORM's back leaves its session: it signs nobody in.
    admin = Client()
    admin.force_login(staff_user)
    assert admin.get("/blacklist/").status_code == 403  # signed in, no account
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {get_user_model()._meta.db_table} WHERE id = %s", [staff_user.pk])
    assert Session.objects.filter(session_key=_session_key(admin)).exists()
    assert admin.get("/blacklist/").status_code == 302


def test_staff_without_an_account_are_signed_in_with_one_query(client, staff_user, django_assert_num_queries):
    client.force_login(staff_user)
    client.get("/blacklist/")
    with django_assert_num_queries(1):  # the session with the user and the absence of a membership
        response = client.get("/blacklist/")
    assert response.status_code == 403  # signed in, but a member's page


def test_the_sessions_in_force_before_the_upgrade_stay_signed_in(owner):
    # Migration 0004 copies django.contrib.sessions' sessions in force, with their user.
    old = DjangoDbSessionStore()
    old.cycle_key()
    old.update({"_auth_user_id": str(owner.pk), "_auth_user_backend": "accounts.backends.ConsoleBackend",
                "_auth_user_hash": owner.get_session_auth_hash()})
    old.save()
    expired = DjangoDbSessionStore()
    expired.set_expiry(-10)
    expired.save()

    migration = importlib.import_module("accounts.migrations.0004_session")
    migration.copy_sessions_in_force(apps, type("Editor", (), {"connection": connection})())
    assert list(Session.objects.values_list("session_key", "user_id")) == [(old.session_key, owner.pk)]
    client = Client()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = old.session_key
    assert _signed_in(client)


# --- The backend on its own (no session at hand: one query) ----------------------------------------


def test_the_user_comes_with_its_membership_account_and_todays_freeze_in_one_query(
    owner, account, django_assert_num_queries
):
    freeze = AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F1", metrics={})
    with django_assert_num_queries(1):
        user = ConsoleBackend().get_user(owner.pk)
        assert user == owner and user.is_authenticated
        assert user.membership.account == account and user.membership.account.name == "Alice Co"
        assert user.membership.account.today_freeze == freeze
        assert user.membership.user is user


def test_a_lifted_or_other_days_freeze_is_not_todays(owner, account, staff_user):
    AccountFreeze.objects.create(account=account, day=timezone.localdate() - dt.timedelta(days=1), rule="F1",
                                 metrics={})
    assert ConsoleBackend().get_user(owner.pk).membership.account.today_freeze is None
    AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F2", metrics={},
                                 lifted_at=timezone.now(), lifted_by=staff_user)
    assert ConsoleBackend().get_user(owner.pk).membership.account.today_freeze is None


def test_a_user_without_membership_is_still_a_user(staff_user, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = ConsoleBackend().get_user(staff_user.pk)
        assert user == staff_user and user.is_staff
        assert not hasattr(user, "membership")  # known absent, no second query


def test_unknown_and_inactive_users_are_nobody(owner):
    assert ConsoleBackend().get_user(owner.pk + 10_000) is None
    assert ConsoleBackend().get_user("not a number") is None
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert ConsoleBackend().get_user(owner.pk) is None


def test_signing_in_with_a_password_still_works_and_refuses_an_inactive_user(client, owner):
    assert client.post("/login/", {"username": "alice@example.com", "password": PASSWORD}).status_code == 302
    assert _signed_in(client)
    client.post("/logout/")
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    response = client.post("/login/", {"username": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
