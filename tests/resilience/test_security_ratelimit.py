"""Security: sign-in and API rate limits (accounts/ratelimit.py, settings.SES_RATE_LIMITS).

Each limit trips at exactly its threshold (the threshold-th hit passes, the next is refused) and
lets requests through again once its window has ended. The clock is time-machine's: the windows are
fixed (time // seconds), so every test starts at the first second of a window. The counters are in
Redis when the settings' cache is Redis (CI), else in the database (accounts.RateCount).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from unittest import mock

import pytest
import redis as redis_py
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache.backends.redis import RedisCache
from django.db import connections
from django.test import Client
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ses.v20201002 import models

from accounts import ratelimit
from accounts.models import ApiKey, RateCount
from api.tests.signing import call, error_code, signed_headers
from api.tests.test_sdk import sdk_client
from conftest import make_member
from ops import periodic
from tests import needs

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
        "login_username_ip": (3, WINDOW),
        "login_username": (6, WINDOW),
        "api_secret_id": (5, WINDOW),
        "api_bad_signature": (3, WINDOW),
    }
    return settings.SES_RATE_LIMITS


def sign_in(client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def is_signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/dashboard/"


# --- Sign-in ------------------------------------------------------------------------------------


def test_a_user_name_from_one_address_is_locked_after_exactly_its_threshold_then_free_again(
    client, owner, limits, clock
):
    ip = "198.51.100.1"
    # 3 failures for one user name from one address: all answered as a wrong password.
    for _ in range(3):
        response = sign_in(client, owner.username, "wrong", ip=ip)
        assert response.status_code == 200
        assert "correct" in response.content.decode().lower()  # Django's "enter a correct …" error
    # The 4th attempt from that address is refused before the password is tried: even the right one.
    refused = sign_in(client, owner.username, PASSWORD, ip=ip)
    assert refused.status_code == 429
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert int(refused["Retry-After"]) == WINDOW
    assert "_auth_user_id" not in client.session
    # Case and spaces do not make another user name.
    assert sign_in(client, f"  {owner.username.upper()} ", PASSWORD, ip=ip).status_code == 429

    # Another user from the same address is not affected.
    bob = make_member(owner.membership.account, "bob@example.com")
    assert is_signed_in(sign_in(client, bob.username, PASSWORD, ip=ip))
    client.logout()

    clock.move_to(START + dt.timedelta(seconds=WINDOW - 1))
    assert sign_in(client, owner.username, PASSWORD, ip=ip).status_code == 429
    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    assert is_signed_in(sign_in(client, owner.username, PASSWORD, ip=ip))


def test_failures_from_another_address_do_not_lock_the_user_out(client, staff_user, limits, clock):
    """Guessing somebody's password from one address locks that address out of that account, not
    the user: staff sign in from their own address in the meantime."""
    attacker = "203.0.113.66"
    for _ in range(3):
        assert sign_in(client, staff_user.username, "guess", ip=attacker).status_code == 200
    assert sign_in(client, staff_user.username, "guess", ip=attacker).status_code == 429
    assert sign_in(client, staff_user.username, "guess", ip=attacker).status_code == 429
    assert is_signed_in(sign_in(client, staff_user.username, "staff pass 42", ip="192.0.2.44"))


def test_a_user_name_is_locked_after_its_higher_threshold_from_any_addresses(client, owner, limits, clock):
    # 6 failures, each from another address (none reaches the per-address limits).
    for n in range(6):
        assert sign_in(client, owner.username, "wrong", ip=f"198.51.100.{n}").status_code == 200
    refused = sign_in(client, owner.username, PASSWORD, ip="198.51.100.99")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == WINDOW
    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    assert is_signed_in(sign_in(client, owner.username, PASSWORD, ip="198.51.100.99"))


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

    for _ in range(2):
        assert admin_sign_in("wrong").status_code == 200
    assert sign_in(client, staff_user.username, "wrong", ip="203.0.113.80").status_code == 200  # counts too
    # Refused as /login/ refuses: 429, Retry-After and the form's error; no password is tried.
    refused = admin_sign_in("staff pass 42")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == WINDOW
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session

    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    signed_in = admin_sign_in("staff pass 42")
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"


def test_successful_sign_ins_do_not_count(client, owner, limits, clock):
    for _ in range(6):
        assert is_signed_in(sign_in(client, owner.username, PASSWORD))
        client.logout()


def _xff_sign_in(client, username: str, password: str, xff: str, remote: str):
    return client.post(
        "/login/", {"username": username, "password": password},
        headers={"X-Forwarded-For": xff}, REMOTE_ADDR=remote,
    )


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw(client, owner, limits, clock, settings):
    settings.SES_CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.SES_TRUSTED_PROXIES = ["127.0.0.1"]
    # The client writes whatever it likes at the front; the proxy appends the address it saw.
    for n in range(4):
        response = _xff_sign_in(client, f"nobody{n}@example.com", "x", f"10.9.9.{n}, 192.0.2.10", "127.0.0.1")
        assert response.status_code == 200
    assert _xff_sign_in(client, owner.username, PASSWORD, "10.9.9.200, 192.0.2.10", "127.0.0.1").status_code == 429
    assert is_signed_in(_xff_sign_in(client, owner.username, PASSWORD, "192.0.2.11", "127.0.0.1"))


def test_a_chain_of_two_trusted_proxies_finds_the_client(client, owner, limits, clock, settings):
    """Client → load balancer (10.0.0.1) → nginx (10.0.0.2) → the app: the header ends with the client
    the balancer saw and the balancer nginx saw."""
    settings.SES_CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.SES_TRUSTED_PROXIES = ["10.0.0.0/24"]
    for n in range(4):
        response = _xff_sign_in(client, f"nobody{n}@example.com", "x", f"6.6.6.{n}, 198.51.100.7, 10.0.0.1", "10.0.0.2")
        assert response.status_code == 200
    blocked = _xff_sign_in(client, owner.username, PASSWORD, "198.51.100.7, 10.0.0.1", "10.0.0.2")
    assert blocked.status_code == 429
    # Another client behind the same two proxies is its own address.
    assert is_signed_in(_xff_sign_in(client, owner.username, PASSWORD, "198.51.100.8, 10.0.0.1", "10.0.0.2"))


def test_a_header_from_an_untrusted_peer_is_ignored(client, owner, limits, clock, settings):
    """A client talking to the app directly cannot pick a fresh address per attempt."""
    settings.SES_CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.SES_TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(4):
        response = _xff_sign_in(client, f"nobody{n}@example.com", "x", f"192.0.2.{n}", "203.0.113.5")
        assert response.status_code == 200
    assert _xff_sign_in(client, owner.username, PASSWORD, "192.0.2.99", "203.0.113.5").status_code == 429


def test_without_trusted_proxies_the_header_is_ignored(client, owner, limits, clock, settings):
    settings.SES_CLIENT_IP_HEADER = "X-Forwarded-For"
    settings.SES_TRUSTED_PROXIES = []
    for n in range(4):
        response = _xff_sign_in(client, f"nobody{n}@example.com", "x", f"192.0.2.{n}", "127.0.0.1")
        assert response.status_code == 200
    assert _xff_sign_in(client, owner.username, PASSWORD, "192.0.2.99", "127.0.0.1").status_code == 429


def test_an_ignored_header_is_reported_and_a_bad_proxy_list_refused():
    env = {**_base_env(), "SES_CLIENT_IP_HEADER": "X-Forwarded-For"}
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, cwd=settings_dir()
    )
    assert "accounts.W001" in check.stderr and "SES_TRUSTED_PROXIES is empty" in check.stderr
    trusted = subprocess.run(
        [sys.executable, "manage.py", "check"], env={**env, "SES_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"},
        capture_output=True, text=True, cwd=settings_dir(),
    )
    assert trusted.returncode == 0 and "accounts.W001" not in trusted.stderr
    bad = subprocess.run(
        [sys.executable, "manage.py", "check"], env={**env, "SES_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"},
        capture_output=True, text=True, cwd=settings_dir(),
    )
    assert bad.returncode != 0 and "SES_TRUSTED_PROXIES must list addresses or networks" in bad.stderr
    assert "'proxy.local'" in bad.stderr


def settings_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_ipv6_clients_are_counted_by_their_64(client, owner, limits, clock):
    """An IPv6 host usually holds a whole /64: a fresh address per attempt gets no fresh budget."""
    for n in range(1, 5):
        assert sign_in(client, f"nobody{n}@example.com", "x", ip=f"2001:db8:1:2::{n:x}").status_code == 200
    refused = sign_in(client, owner.username, PASSWORD, ip="2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert refused.status_code == 429
    # The neighbouring /64 is another client.
    assert is_signed_in(sign_in(client, owner.username, PASSWORD, ip="2001:db8:1:3::1"))


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
    with time_machine.travel(START, tick=True) as clock:
        key, secret = ApiKey.issue(account)
        ses = sdk_client(live_server, key.secret_id, secret)
        for _ in range(5):
            ses.ListEmailIdentities(models.ListEmailIdentitiesRequest())
            clock.shift(1)  # one body each second: the same one twice in a second would be a replay
        with pytest.raises(TencentCloudSDKException) as excinfo:
            ses.ListEmailIdentities(models.ListEmailIdentitiesRequest())
    assert excinfo.value.code == "RequestLimitExceeded"
    assert excinfo.value.requestId


# --- The cache behind the counters --------------------------------------------------------------


def test_the_settings_choose_redis_when_a_redis_broker_is_configured_and_the_database_otherwise():
    """Redis holds the counters when there is one; otherwise they are database rows and the cache is
    each process's own memory (nothing shared is kept in it)."""
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
    assert embedded["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    forced_db = caches({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/5", "CACHE_URL": "db://"})
    assert forced_db["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def _base_env() -> dict:
    keep = ("PATH", "HOME", "LANG", "SES_DATA_DIR", "PYTHONPATH")
    return {name: os.environ[name] for name in keep if name in os.environ}


def test_the_tick_deletes_the_database_counters_of_ended_windows(client, owner, settings, clock):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "login_ip": (3, 60), "login_username_ip": (100, 3600)}
    for n in range(3):  # 3 failures from one address: its 60 s window is full
        assert sign_in(client, f"nobody{n}@example.com", "x", ip="203.0.113.9").status_code == 200
    assert RateCount.objects.count() > 0

    clock.move_to(START + dt.timedelta(seconds=60))  # the 60 s windows have ended, the hour's has not
    assert sign_in(client, "nobody@example.com", "x", ip="203.0.113.10").status_code == 200
    live = set(RateCount.objects.filter(window_end__gt=dt.datetime.now(dt.UTC)).values_list("key", flat=True))
    result = periodic.run_job(periodic.job_named("delete_ended_rate_counts"))
    assert result.ok
    assert set(RateCount.objects.values_list("key", flat=True)) == live
    assert RateCount.objects.exclude(window_end__gt=dt.datetime.now(dt.UTC)).count() == 0
    # …and the live counters still count: 2 more failures from the second address, then refused.
    for _ in range(2):
        assert sign_in(client, "nobody@example.com", "x", ip="203.0.113.10").status_code == 200
    assert sign_in(client, owner.username, PASSWORD, ip="203.0.113.10").status_code == 429


@pytest.mark.postgres(reason="concurrent writers; SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_are_all_counted(settings):
    """20 workers counting at once: none of their hits is lost (one atomic increment each)."""
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "login_ip": (1000, 3600)}
    barrier = threading.Barrier(20)

    def worker():
        try:
            barrier.wait()
            for _ in range(5):
                ratelimit.hit(ratelimit.LOGIN_IP, "192.0.2.1")
        finally:
            connections.close_all()

    with time_machine.travel(START + dt.timedelta(seconds=5), tick=False):
        threads = [threading.Thread(target=worker) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert ratelimit.hits(ratelimit.LOGIN_IP, "192.0.2.1") == 100


@pytest.mark.postgres(reason="concurrent writers; SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_concurrent_sign_in_attempts_cannot_overrun_the_limit(settings):
    """10 wrong passwords at once against a limit of 3: the password is checked at most 3 times.

    The production password hasher (PBKDF2, ~0.3 s) is what makes attempts overlap.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    settings.SES_RATE_LIMITS = {
        **settings.SES_RATE_LIMITS, "login_ip": (3, 3600), "login_username_ip": (3, 3600), "login_username": (3, 3600),
    }
    user = get_user_model().objects.create_user("victim@example.com", "victim@example.com", PASSWORD)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def attempt(n: int):
        try:
            barrier.wait()
            statuses.append(sign_in(Client(), user.username, f"guess {n}", ip="203.0.113.77").status_code)
        finally:
            connections.close_all()

    with time_machine.travel(START + dt.timedelta(seconds=5), tick=True):
        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [200] * 3 + [429] * 7


@pytest.mark.postgres(reason="concurrent writers; SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_concurrent_bad_signatures_get_at_most_the_limit_of_answers(settings):
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "api_bad_signature": (3, 3600)}
    from accounts.models import Account

    key, secret = ApiKey.issue(Account.objects.create(name="Guessed Co"))
    barrier = threading.Barrier(12)
    codes: list[str] = []

    def attempt():
        try:
            barrier.wait()
            codes.append(error_code(_forged(Client(), key.secret_id, ip="203.0.113.78")))
        finally:
            connections.close_all()

    with time_machine.travel(START + dt.timedelta(seconds=5), tick=True):
        threads = [threading.Thread(target=attempt) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(codes) == ["AuthFailure.SignatureFailure"] * 3 + ["RequestLimitExceeded"] * 9
        # The right key from that address is refused too: a lucky guess would not be told apart.
        assert error_code(_list_identities(Client(), key.secret_id, secret, "203.0.113.78")) == "RequestLimitExceeded"



def test_the_redis_cache_counts_across_clients(settings):
    """Two cache clients (two workers) count on one counter when the cache is Redis."""
    url = "redis://127.0.0.1:6379/14"
    try:
        redis_py.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis_py.exceptions.ConnectionError:
        needs.missing("Redis on 127.0.0.1:6379")
    params = {"KEY_PREFIX": "sesconsole-test", "OPTIONS": {"socket_connect_timeout": 2}}
    worker_a, worker_b = RedisCache(url, params), RedisCache(url, params)
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "login_ip": (2, 60)}
    with time_machine.travel(START, tick=False):
        with mock.patch.object(ratelimit, "cache", worker_a):
            assert ratelimit.take(ratelimit.LOGIN_IP, "192.0.2.1")
        with mock.patch.object(ratelimit, "cache", worker_b):
            assert ratelimit.take(ratelimit.LOGIN_IP, "192.0.2.1")
            assert not ratelimit.take(ratelimit.LOGIN_IP, "192.0.2.1")
            # The counter expires a little after its window: Redis is not left with old windows.
            name = worker_b.make_and_validate_key(ratelimit._key(ratelimit.limit(ratelimit.LOGIN_IP), "192.0.2.1", START.timestamp()))
            assert 60 < redis_py.Redis.from_url(url).ttl(name) <= 65


def test_an_unreachable_cache_lets_requests_through(client, owner, settings):
    """The limits are a brake: a cache that is down must not lock everybody out (nor crash)."""
    dead = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    key, secret = ApiKey.issue(owner.membership.account)
    with mock.patch.object(ratelimit, "cache", dead):
        assert sign_in(client, owner.username, "wrong").status_code == 200
        assert is_signed_in(sign_in(client, owner.username, PASSWORD))
        assert "Error" not in _list_identities(client, key.secret_id, secret)
        assert error_code(_forged(client, key.secret_id, "203.0.113.9")) == "AuthFailure.SignatureFailure"
