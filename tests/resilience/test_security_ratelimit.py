"""Security: sign-in and API rate limits (accounts/ratelimit.py, settings.SES_RATE_LIMITS).

Each limit trips at exactly its threshold (the threshold-th hit passes, the next is refused) and
lets requests through again once its window has ended. The clock is time-machine's: the windows are
fixed (time // seconds), so every test starts at the first second of a window.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from unittest import mock

import pytest
import redis as redis_py
import time_machine
from django.core.cache.backends.redis import RedisCache
from django.core.management import call_command
from django.db import connection
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ses.v20201002 import models

from accounts import ratelimit
from accounts.models import ApiKey
from api.tests.signing import call, error_code, signed_headers
from api.tests.test_sdk import sdk_client
from conftest import make_member

PASSWORD = "correct horse 42"
WINDOW = 600
# The first second of a window of every size used here (a multiple of 600 s and of 3600 s).
START = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def limits(settings):
    settings.SES_RATE_LIMITS = {
        **settings.SES_RATE_LIMITS,
        "login_ip": (4, WINDOW),
        "login_username": (3, WINDOW),
        "api_secret_id": (5, WINDOW),
        "api_bad_signature": (3, WINDOW),
    }
    return settings.SES_RATE_LIMITS


def sign_in(client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def is_signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/dashboard/"


# --- Sign-in ------------------------------------------------------------------------------------


def test_a_user_name_is_locked_after_exactly_its_threshold_of_failures_then_free_again(
    client, owner, limits, clock
):
    # 3 failures for one user name, each from another address: all answered as a wrong password.
    for n in range(3):
        response = sign_in(client, owner.username, "wrong", ip=f"198.51.100.{n}")
        assert response.status_code == 200
        assert "correct" in response.content.decode().lower()  # Django's "enter a correct …" error
    # The 4th attempt is refused before the password is tried: even the right one.
    refused = sign_in(client, owner.username, PASSWORD, ip="198.51.100.99")
    assert refused.status_code == 429
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert int(refused["Retry-After"]) == WINDOW
    assert "_auth_user_id" not in client.session
    # Case and spaces do not make another user name.
    assert sign_in(client, f"  {owner.username.upper()} ", PASSWORD, ip="198.51.100.98").status_code == 429

    # Another user from the same addresses is not affected.
    bob = make_member(owner.membership.account, "bob@example.com")
    assert is_signed_in(sign_in(client, bob.username, PASSWORD, ip="198.51.100.0"))
    client.logout()

    clock.move_to(START + dt.timedelta(seconds=WINDOW - 1))
    assert sign_in(client, owner.username, PASSWORD).status_code == 429
    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    assert is_signed_in(sign_in(client, owner.username, PASSWORD))


def test_an_address_is_blocked_after_exactly_its_threshold_of_failures_then_free_again(
    client, owner, limits, clock
):
    ip = "203.0.113.50"
    # 4 failures from one address, each for another (unknown) user name.
    for n in range(4):
        assert sign_in(client, f"nobody{n}@example.com", "guess", ip=ip).status_code == 200
    refused = sign_in(client, owner.username, PASSWORD, ip=ip)
    assert refused.status_code == 429
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # The same user from another address signs in: the address is blocked, not the user.
    assert is_signed_in(sign_in(client, owner.username, PASSWORD, ip="203.0.113.51"))
    client.logout()

    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    assert is_signed_in(sign_in(client, owner.username, PASSWORD, ip=ip))


def test_the_admin_sign_in_is_under_the_same_limits(client, staff_user, limits, clock):
    """/admin/login/ is no way around the limits of /login/: they share the counters."""
    def admin_sign_in(password: str, ip: str = "203.0.113.80"):
        return client.post(
            "/admin/login/?next=/admin/", {"username": staff_user.username, "password": password}, REMOTE_ADDR=ip
        )

    for n in range(2):
        assert admin_sign_in("wrong", ip=f"203.0.113.{90 + n}").status_code == 200
    assert sign_in(client, staff_user.username, "wrong").status_code == 200  # the console counts too
    refused = admin_sign_in("staff pass 42")
    assert refused.status_code == 200
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session

    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    signed_in = admin_sign_in("staff pass 42")
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"


def test_successful_sign_ins_do_not_count(client, owner, limits, clock):
    for _ in range(6):
        assert is_signed_in(sign_in(client, owner.username, PASSWORD))
        client.logout()


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(client, owner, limits, clock, settings):
    settings.SES_CLIENT_IP_HEADER = "X-Forwarded-For"
    # The client writes whatever it likes at the front; the proxy appends the address it saw.
    for n in range(4):
        response = client.post(
            "/login/", {"username": f"nobody{n}@example.com", "password": "x"},
            headers={"X-Forwarded-For": f"10.9.9.{n}, 192.0.2.10"}, REMOTE_ADDR="127.0.0.1",
        )
        assert response.status_code == 200
    blocked = client.post(
        "/login/", {"username": owner.username, "password": PASSWORD},
        headers={"X-Forwarded-For": "10.9.9.200, 192.0.2.10"}, REMOTE_ADDR="127.0.0.1",
    )
    assert blocked.status_code == 429
    other = client.post(
        "/login/", {"username": owner.username, "password": PASSWORD},
        headers={"X-Forwarded-For": "192.0.2.11"}, REMOTE_ADDR="127.0.0.1",
    )
    assert is_signed_in(other)


# --- API ----------------------------------------------------------------------------------------


def _list_identities(client, secret_id: str, secret_key: str, ip: str = "203.0.113.7") -> dict:
    body = json.dumps({}).encode()
    response = client.post(
        "/", data=body, content_type="application/json",
        headers=signed_headers(secret_id, secret_key, "ListEmailIdentities", body), REMOTE_ADDR=ip,
    )
    assert response.status_code == 200
    return response.json()["Response"]


def test_a_secret_id_is_limited_to_exactly_its_threshold_per_window(client, account, limits, clock):
    key, secret = ApiKey.issue(account)
    other_key, other_secret = ApiKey.issue(account)
    for _ in range(5):
        assert "Error" not in _list_identities(client, key.secret_id, secret)
    refused = _list_identities(client, key.secret_id, secret)
    assert error_code(refused) == "RequestLimitExceeded"
    assert str(WINDOW) in refused["Error"]["Message"]
    # Another key of the same account, from the same address, has its own budget.
    assert "Error" not in _list_identities(client, other_key.secret_id, other_secret)

    clock.move_to(START + dt.timedelta(seconds=WINDOW - 1))
    assert error_code(_list_identities(client, key.secret_id, secret)) == "RequestLimitExceeded"
    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    assert "Error" not in _list_identities(client, key.secret_id, secret)


def test_a_limited_request_changes_nothing(client, account, limits, clock):
    key, secret = ApiKey.issue(account)
    for _ in range(5):
        assert "Error" not in call(client, key.secret_id, secret, "ListEmailIdentities")
    refused = call(
        client, key.secret_id, secret, "CreateReceiver", {"ReceiversName": "Refused list", "Desc": ""}
    )
    assert error_code(refused) == "RequestLimitExceeded"
    assert not account.receiver_lists.exists()


def test_requests_with_someone_elses_secret_id_do_not_spend_its_budget(client, account, limits, clock):
    key, secret = ApiKey.issue(account)
    for n in range(10):  # signed with a wrong SecretKey, from many addresses
        data = _forged(client, key.secret_id, ip=f"198.51.100.{n}")
        assert error_code(data) == "AuthFailure.SignatureFailure"
    for _ in range(5):
        assert "Error" not in _list_identities(client, key.secret_id, secret)


def _forged(client, secret_id: str, ip: str) -> dict:
    """A request signed with a wrong SecretKey."""
    body = b"{}"
    response = client.post(
        "/", data=body, content_type="application/json",
        headers=signed_headers(secret_id, "not-the-secret-key", "ListEmailIdentities", body), REMOTE_ADDR=ip,
    )
    return response.json()["Response"]


def test_an_address_sending_bad_signatures_is_refused_after_exactly_its_threshold(client, account, limits, clock):
    key, secret = ApiKey.issue(account)
    ip = "203.0.113.66"
    # Guessing: a wrong SecretKey, then a SecretId that does not exist. 3 are answered as such.
    assert error_code(_forged(client, key.secret_id, ip)) == "AuthFailure.SignatureFailure"
    assert error_code(_forged(client, key.secret_id, ip)) == "AuthFailure.SignatureFailure"
    assert error_code(_forged(client, "AKIDdoesnotexist", ip)) == "AuthFailure.SecretIdNotFound"
    # From then on the address is refused before any key is looked at: even a correct signature.
    assert error_code(_forged(client, key.secret_id, ip)) == "RequestLimitExceeded"
    assert error_code(_list_identities(client, key.secret_id, secret, ip=ip)) == "RequestLimitExceeded"
    # Another address with the same key is served.
    assert "Error" not in _list_identities(client, key.secret_id, secret, ip="203.0.113.67")

    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    assert "Error" not in _list_identities(client, key.secret_id, secret, ip=ip)


def test_the_official_sdk_sees_request_limit_exceeded(live_server, transactional_db, account, limits):
    # A live server and the SDK's own clock: time runs, from the first second of an hour.
    with time_machine.travel(START, tick=True):
        key, secret = ApiKey.issue(account)
        ses = sdk_client(live_server, key.secret_id, secret)
        for _ in range(5):
            ses.ListEmailIdentities(models.ListEmailIdentitiesRequest())
        with pytest.raises(TencentCloudSDKException) as excinfo:
            ses.ListEmailIdentities(models.ListEmailIdentitiesRequest())
    assert excinfo.value.code == "RequestLimitExceeded"
    assert excinfo.value.requestId


# --- The cache behind the counters --------------------------------------------------------------


def test_the_default_cache_is_shared_between_processes(settings):
    """Counters kept in one process's memory would let each gunicorn worker allow the full limit."""
    backend = settings.CACHES["default"]["BACKEND"]
    assert backend in (
        "django.core.cache.backends.redis.RedisCache", "django.core.cache.backends.db.DatabaseCache",
    )


def test_the_settings_choose_redis_when_a_redis_broker_is_configured_and_the_database_otherwise():
    def caches(env: dict) -> dict:
        code = (
            "import json, os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'sesconsole.settings'); "
            "django.setup(); from django.conf import settings; print(json.dumps(settings.CACHES['default']))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env={**_base_env(), **env}, capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    redis = caches({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/5"})
    assert redis["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert redis["LOCATION"] == "redis://127.0.0.1:6379/5"
    explicit = caches({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/5", "CACHE_URL": "redis://127.0.0.1:6379/6"})
    assert explicit["LOCATION"] == "redis://127.0.0.1:6379/6"
    embedded = caches({})
    assert embedded["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    forced_db = caches({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/5", "CACHE_URL": "db://"})
    assert forced_db["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"


def _base_env() -> dict:
    keep = ("PATH", "HOME", "LANG", "SES_DATA_DIR", "PYTHONPATH")
    return {name: os.environ[name] for name in keep if name in os.environ}


@pytest.mark.django_db(transaction=True)
def test_migrate_creates_the_database_cache_table(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "sesconsole_cache"}}
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sesconsole_cache")
    assert "sesconsole_cache" not in connection.introspection.table_names()
    call_command("migrate", verbosity=0)
    assert "sesconsole_cache" in connection.introspection.table_names()
    # …and the counters work on it.
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "login_ip": (1, 60)}
    with time_machine.travel(START, tick=False):
        assert ratelimit.take(ratelimit.LOGIN_IP, "192.0.2.1")
        assert not ratelimit.take(ratelimit.LOGIN_IP, "192.0.2.1")


def test_the_redis_cache_counts_across_clients(settings):
    """Two cache clients (two workers) count on one counter when the cache is Redis."""
    url = "redis://127.0.0.1:6379/5"
    try:
        redis_py.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis_py.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    params = {"KEY_PREFIX": "sesconsole-test", "OPTIONS": {"socket_connect_timeout": 2}}
    worker_a, worker_b = RedisCache(url, params), RedisCache(url, params)
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "login_ip": (2, 60)}
    with time_machine.travel(START, tick=False):
        with mock.patch.object(ratelimit, "cache", worker_a):
            assert ratelimit.take(ratelimit.LOGIN_IP, "192.0.2.1")
        with mock.patch.object(ratelimit, "cache", worker_b):
            assert ratelimit.take(ratelimit.LOGIN_IP, "192.0.2.1")
            assert not ratelimit.take(ratelimit.LOGIN_IP, "192.0.2.1")


def test_an_unreachable_cache_lets_requests_through(client, owner, settings):
    """The limits are a brake: a cache that is down must not lock everybody out (nor crash)."""
    dead = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    key, secret = ApiKey.issue(owner.membership.account)
    with mock.patch.object(ratelimit, "cache", dead):
        assert sign_in(client, owner.username, "wrong").status_code == 200
        assert is_signed_in(sign_in(client, owner.username, PASSWORD))
        assert "Error" not in _list_identities(client, key.secret_id, secret)
        assert error_code(_forged(client, key.secret_id, "203.0.113.9")) == "AuthFailure.SignatureFailure"


def test_a_flood_of_other_keys_does_not_wipe_a_counter(client, owner, limits, clock):
    """The database cache drops the lowest third of its keys past MAX_ENTRIES: failing sign-ins
    under many user names (each a cache row) must not wipe a user name's counter."""
    for n in range(3):
        assert sign_in(client, owner.username, "wrong", ip=f"198.51.100.{n}").status_code == 200
    # 400 other user names whose keys sort after the owner's: a cull would take the owner's first.
    lim = ratelimit.limit(ratelimit.LOGIN_USERNAME)
    owners_key = ratelimit._key(lim, owner.username, START.timestamp())
    flood, n = [], 0
    while len(flood) < 400:
        name = f"flood{n}@example.com"
        if ratelimit._key(lim, name, START.timestamp()) > owners_key:
            flood.append(name)
        n += 1
    for name in flood:
        ratelimit.hit(ratelimit.LOGIN_USERNAME, name)
    assert sign_in(client, owner.username, PASSWORD, ip="198.51.100.200").status_code == 429
