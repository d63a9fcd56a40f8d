"""Sessions read from the cache, and the user read with its membership: what a signed-in person notices.

accounts.backends: sessions cached in Redis (settings pick them only with a Redis cache) still end
everywhere at sign-out and survive the cache losing them; the user, its membership, account and
today's freeze come in one query, and the sign-in rules of Django's ModelBackend still hold.
"""

import logging

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from accounts.backends import ConsoleBackend
from accounts.models import AccountFreeze

pytestmark = pytest.mark.django_db

CACHED = "accounts.backends"
DATABASE = "django.contrib.sessions.backends.db"


@pytest.fixture(params=[CACHED, DATABASE])
def engine(request, settings):
    settings.SESSION_ENGINE = request.param
    return request.param


@pytest.fixture
def cached(settings):
    settings.SESSION_ENGINE = CACHED
    return CACHED


def _session_key(client: Client) -> str:
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def _same_cookie(client: Client) -> Client:
    other = Client()
    other.cookies[django_settings.SESSION_COOKIE_NAME] = _session_key(client)
    return other


def test_the_settings_cache_sessions_only_with_a_redis_cache():
    # A cache in each process's memory could keep a session another process has ended.
    redis = django_settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    assert django_settings.SESSION_ENGINE == (CACHED if redis else DATABASE)
    assert django_settings.AUTHENTICATION_BACKENDS == ["accounts.backends.ConsoleBackend"]


def test_signing_out_ends_the_session_for_another_client_with_the_same_cookie(client, owner, engine):
    client.force_login(owner)
    thief = _same_cookie(client)
    assert thief.get("/stats/").status_code == 200  # the cookie works anywhere while signed in
    key = _session_key(client)

    assert client.post("/logout/").status_code == 302
    response = thief.get("/stats/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert caches["default"].get(KEY_PREFIX + key) is None


def test_a_session_survives_the_cache_losing_it(client, owner, cached):
    client.force_login(owner)
    assert client.get("/stats/").status_code == 200
    key = _session_key(client)
    assert caches["default"].get(KEY_PREFIX + key) is not None  # read from the cache…
    caches["default"].delete(KEY_PREFIX + key)  # …which loses it (flushed, evicted, restarted)

    response = client.get("/stats/")
    assert response.status_code == 200 and b"Alice Co" in response.content  # the database still has it
    assert caches["default"].get(KEY_PREFIX + key) is not None  # and the cache has it again


def test_a_password_change_signs_out_the_other_sessions(client, owner, engine):
    client.force_login(owner)
    assert client.get("/stats/").status_code == 200
    owner.set_password("a brand new password 43")
    owner.save()
    assert client.get("/stats/").status_code == 302


def test_a_deactivated_user_is_signed_out(client, owner, engine):
    client.force_login(owner)
    assert client.get("/stats/").status_code == 200
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert client.get("/stats/").status_code == 302


def test_an_unreachable_cache_falls_back_to_the_database_and_sign_out_fails_visibly(
    client, owner, cached, settings, caplog
):
    # Port 1: nothing listens, the connection is refused at once.
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    caplog.set_level(logging.CRITICAL, logger="django.request")
    client.get("/login/")
    response = client.post("/login/", {"username": "alice@example.com", "password": "correct horse 42"})
    assert response.status_code == 302  # signing in works without the cache
    assert client.get("/stats/").status_code == 200  # the session is read from the database

    # Signing out cannot remove a cached copy: it fails rather than leave one that would come back
    # with the cache; the session is then whole (still signed in), not half-ended.
    client.raise_request_exception = False
    assert client.post("/logout/").status_code == 500
    assert client.get("/stats/").status_code == 200


# --- The backend -----------------------------------------------------------------------------------


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
    import datetime as dt

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
    assert client.post("/login/", {"username": "alice@example.com", "password": "correct horse 42"}).status_code == 302
    assert client.get("/stats/").status_code == 200
    client.post("/logout/")
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    response = client.post("/login/", {"username": "alice@example.com", "password": "correct horse 42"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
