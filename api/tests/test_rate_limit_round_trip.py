"""The API's two rate-limit counters in one round trip (accounts.ratelimit.take_unless_exceeded):
the same answers as is_exceeded then take, with Redis and with the database."""

import pytest
from django.core.cache.backends.locmem import LocMemCache

from accounts import ratelimit

KEY, ADDRESS = "AKIDsomebody", "203.0.113.9"


@pytest.fixture(params=["configured store", "database store"])
def store(request, settings, db, monkeypatch):
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "api_secret_id": (2, 60), "api_bad_signature": (2, 300)}
    if request.param == "database store":
        monkeypatch.setattr(ratelimit, "cache", LocMemCache("not-redis", {}))
    return request.param


def check():
    return ratelimit.take_unless_exceeded(ratelimit.API_SECRET_ID, KEY, ratelimit.API_BAD_SIGNATURE, ADDRESS)


def test_a_request_is_counted_for_its_key_until_the_keys_limit(store):
    assert check() == (False, True)
    assert check() == (False, True)
    assert check() == (False, False)
    assert ratelimit.hits(ratelimit.API_SECRET_ID, KEY) == 3


def test_an_address_over_its_bad_signature_limit_is_refused_and_the_key_not_charged(store):
    assert ratelimit.take(ratelimit.API_BAD_SIGNATURE, ADDRESS)
    assert check() == (False, True)  # one refused signature: under the limit
    assert ratelimit.take(ratelimit.API_BAD_SIGNATURE, ADDRESS)
    assert check() == (True, False)  # two: the address is refused
    assert check() == (True, False)
    assert ratelimit.hits(ratelimit.API_SECRET_ID, KEY) == 1  # only the request that was let through
    assert ratelimit.hits(ratelimit.API_BAD_SIGNATURE, ADDRESS) == 2  # checking does not add to it


def test_a_store_that_fails_lets_the_request_through(store, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("the store is down")

    monkeypatch.setattr(ratelimit._RedisStore, "get_and_incr", broken)
    monkeypatch.setattr(ratelimit._RedisStore, "get", broken)
    monkeypatch.setattr(ratelimit._RedisStore, "incr", broken)
    monkeypatch.setattr(ratelimit._DatabaseStore, "get", broken)
    monkeypatch.setattr(ratelimit._DatabaseStore, "incr", broken)
    assert check() == (False, True)
