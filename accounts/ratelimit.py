"""Rate limits: sign-in attempts and API requests, counted in Django's cache.

The cache is shared by every web worker (Redis in production, the database cache in the embedded
default: settings.CACHES), so a limit holds for the installation, not per process.

Each limit is a fixed window: at most `count` hits per `seconds`, counted from the start of the
window the clock is in (time // seconds). The (count+1)-th hit of a window is refused; the next
window starts from zero. The limits live in settings.SES_RATE_LIMITS:

    login_ip           failed sign-ins from one client address
    login_username     failed sign-ins for one user name (whatever the address)
    api_secret_id      signed API requests of one SecretId
    api_bad_signature  API requests from one client address whose signature was refused

A cache that cannot be reached does not take the console or the API down with it: the request is
let through and the failure logged (the limits are a brake, not the authentication).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import ngettext

logger = logging.getLogger(__name__)

LOGIN_IP = "login_ip"
LOGIN_USERNAME = "login_username"
API_SECRET_ID = "api_secret_id"
API_BAD_SIGNATURE = "api_bad_signature"

# Part of every key: lets tests give each test its own counters without clearing a shared cache.
namespace = "rl"


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    seconds: int


def limit(name: str) -> Limit:
    count, seconds = settings.SES_RATE_LIMITS[name]
    return Limit(name, int(count), int(seconds))


def _window(lim: Limit, now: float) -> int:
    return int(now // lim.seconds)


def _key(lim: Limit, identity: str, now: float) -> str:
    # Hashed: user names and addresses may hold characters a cache key must not (memcached-safe).
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{namespace}:{lim.name}:{lim.seconds}:{_window(lim, now)}:{digest}"


def hits(name: str, identity: str) -> int:
    """How many hits `identity` has in the current window of limit `name`."""
    lim = limit(name)
    try:
        return int(cache.get(_key(lim, identity, time.time()), 0))
    except Exception:
        logger.warning("rate limit %s: the cache cannot be read; letting the request through", name, exc_info=True)
        return 0


def is_exceeded(name: str, identity: str) -> bool:
    """True when `identity` has used up its hits of this window (the next one would be refused)."""
    return hits(name, identity) >= limit(name).count


def hit(name: str, identity: str) -> int:
    """Count one hit; returns the count of the window including this one (0 if the cache failed)."""
    lim = limit(name)
    key = _key(lim, identity, time.time())
    # The key outlives its window by a little: the window decides, not the cache's expiry.
    timeout = lim.seconds + 5
    try:
        if cache.add(key, 1, timeout=timeout):
            return 1
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=timeout)
            return 1
        # incr() of the database cache stores with the default timeout; keep the key for its window.
        cache.touch(key, timeout=timeout)
        return count
    except Exception:
        logger.warning("rate limit %s: the cache cannot be written; not counting", name, exc_info=True)
        return 0


def take(name: str, identity: str) -> bool:
    """Count one hit; False when it went over the limit (refuse the request)."""
    return hit(name, identity) <= limit(name).count


def retry_after(name: str) -> int:
    """Seconds until the current window of limit `name` ends."""
    lim = limit(name)
    now = time.time()
    return max(1, int((_window(lim, now) + 1) * lim.seconds - now + 0.999))


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the last address of settings.SES_CLIENT_IP_HEADER.

    Behind a reverse proxy every request comes from the proxy; the operator names the header the
    proxy sets (e.g. X-Forwarded-For). The last entry is the one the proxy added: the ones before it
    come from the client and may be forged.
    """
    header = settings.SES_CLIENT_IP_HEADER
    if header:
        value = request.headers.get(header, "")
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if parts:
            return parts[-1]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()[:254]


# --- Sign-in: the console's login view and the admin's login form share these ---------------------


def login_blocked(request: HttpRequest, username: str) -> int | None:
    """Seconds to wait when this address or this user name has failed too often; None to go on."""
    waits = [
        retry_after(name)
        for name, identity in ((LOGIN_IP, client_ip(request)), (LOGIN_USERNAME, normalise_username(username)))
        if identity and is_exceeded(name, identity)
    ]
    return max(waits) if waits else None


def login_failed(request: HttpRequest, username: str) -> None:
    hit(LOGIN_IP, client_ip(request))
    if normalise_username(username):
        hit(LOGIN_USERNAME, normalise_username(username))


def login_refused_message(retry_after: int) -> str:
    minutes = max(1, (retry_after + 59) // 60)
    return ngettext(
        "Too many failed sign-in attempts. Wait %(minutes)s minute and try again.",
        "Too many failed sign-in attempts. Wait %(minutes)s minutes and try again.",
        minutes,
    ) % {"minutes": minutes}
