"""Rate limits: sign-in attempts and API requests.

Each limit is a fixed window: at most `count` hits per `seconds`, counted from the start of the
window the clock is in (time // seconds). The (count+1)-th hit of a window is refused; the next
window starts from zero. The limits live in settings.SES_RATE_LIMITS:

    login_ip           failed sign-ins from one client address
    login_username_ip  failed sign-ins for one user name from one client address (the low limit)
    login_username     failed sign-ins for one user name from any address (a much higher limit:
                       a low one would let anybody lock any user out)
    api_secret_id      signed API requests of one SecretId
    api_bad_signature  API requests from one client address whose signature was refused

Where the counters live (shared by every web worker, so a limit holds for the installation):
- Redis, when settings.CACHES is Redis: INCR and EXPIRE in one MULTI, atomic.
- else the database: one row per (limit, window, identity) in accounts.RateCount, counted by one
  atomic upsert (INSERT … ON CONFLICT DO UPDATE … RETURNING); the periodic job
  `delete_ended_rate_counts` deletes the rows of ended windows.
The window is part of the key, so a counter never needs its expiry moved.

Sign-in takes before it checks: each attempt is counted before the password is tried, and an
attempt that went over a limit gives its hits back and is refused without trying the password.
A sign-in that succeeds gives its hits back too, so in the end only failed attempts use the budget;
while attempts are being checked they hold their hits, so concurrent attempts cannot overrun it.

A store that cannot be reached does not take the console or the API down with it: the request is
let through and the failure logged (the limits are a brake, not the authentication).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import ipaddress
import logging
import sqlite3
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils.translation import ngettext

logger = logging.getLogger(__name__)

LOGIN_IP = "login_ip"
LOGIN_USERNAME_IP = "login_username_ip"
LOGIN_USERNAME = "login_username"
API_SECRET_ID = "api_secret_id"
API_BAD_SIGNATURE = "api_bad_signature"

# Part of every key: lets tests give each test its own counters without clearing a shared store.
namespace = "rl"
# The cache whose Redis holds the counters; None: settings.CACHES["default"] (tests swap it).
cache = None


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
    # Hashed: user names and addresses may hold characters a key must not; and a bounded length.
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{namespace}:{lim.name}:{lim.seconds}:{_window(lim, now)}:{digest}"


def _window_end(lim: Limit, now: float) -> float:
    return (_window(lim, now) + 1) * lim.seconds


# --- The stores -----------------------------------------------------------------------------------


class _RedisStore:
    def __init__(self, backend: RedisCache):
        self.backend = backend

    def _client(self, key: str):
        name = self.backend.make_and_validate_key(key)
        return name, self.backend._cache.get_client(name, write=True)

    def incr(self, key: str, window_end: float, delta: int = 1) -> int:
        name, client = self._client(key)
        # The key outlives its window by a little: the window (in the key) decides, not the expiry.
        ttl = max(1, int(window_end - time.time()) + 5)
        pipe = client.pipeline(transaction=True)
        pipe.incrby(name, delta)
        pipe.expire(name, ttl)
        count, _ = pipe.execute()
        return int(count)

    def get(self, key: str) -> int:
        name, client = self._client(key)
        return int(client.get(name) or 0)

    def get_and_incr(self, get_key: str, key: str, window_end: float) -> tuple[int, int]:
        """get(get_key) and incr(key) in one MULTI: one round trip."""
        get_name = self.backend.make_and_validate_key(get_key)
        name, client = self._client(key)
        ttl = max(1, int(window_end - time.time()) + 5)
        pipe = client.pipeline(transaction=True)
        pipe.get(get_name)
        pipe.incrby(name, 1)
        pipe.expire(name, ttl)
        seen, count, _ = pipe.execute()
        return int(seen or 0), int(count)


_TABLE = "accounts_ratecount"


def _sqlite_has_returning() -> bool:
    return sqlite3.sqlite_version_info >= (3, 35, 0)


class _DatabaseStore:
    """accounts.RateCount, counted with one upsert per hit (PostgreSQL; SQLite ≥ 3.35)."""

    def incr(self, key: str, window_end: float, delta: int = 1) -> int:
        q = connection.ops.quote_name
        upsert = (
            f"INSERT INTO {q(_TABLE)} ({q('key')}, {q('count')}, {q('window_end')}) VALUES (%s, %s, %s) "
            f"ON CONFLICT ({q('key')}) DO UPDATE SET {q('count')} = {q(_TABLE)}.{q('count')} + %s"
        )
        params = [key, delta, dt.datetime.fromtimestamp(window_end, dt.UTC), delta]
        with self._statement(), connection.cursor() as cursor:
            if connection.vendor != "sqlite" or _sqlite_has_returning():
                cursor.execute(f"{upsert} RETURNING {q('count')}", params)
                return int(cursor.fetchone()[0])
            # An older SQLite: its write lock, held to the end of the transaction, keeps the pair atomic.
            with transaction.atomic():
                cursor.execute(upsert, params)
                cursor.execute(f"SELECT {q('count')} FROM {q(_TABLE)} WHERE {q('key')} = %s", [key])
                return int(cursor.fetchone()[0])

    def get(self, key: str) -> int:
        from accounts.models import RateCount

        with self._statement():
            return RateCount.objects.filter(key=key).values_list("count", flat=True).first() or 0

    @staticmethod
    def _statement():
        # Inside a caller's transaction a failed statement must not spoil it: a savepoint. Outside
        # (autocommit, as requests run) the statement is its own transaction, one round trip.
        return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()


def redis_cache() -> RedisCache | None:
    """The Redis cache that holds these counters (and api.replay's signatures), or None: the database."""
    backend = cache if cache is not None else caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def _store():
    backend = redis_cache()
    return _RedisStore(backend) if backend is not None else _DatabaseStore()


def uses_database() -> bool:
    return isinstance(_store(), _DatabaseStore)


# --- Counting -------------------------------------------------------------------------------------


def hits(name: str, identity: str) -> int:
    """How many hits `identity` has in the current window of limit `name`."""
    lim = limit(name)
    try:
        return _store().get(_key(lim, identity, time.time()))
    except Exception:
        logger.warning("rate limit %s: the counters cannot be read; letting the request through", name, exc_info=True)
        return 0


def is_exceeded(name: str, identity: str) -> bool:
    """True when `identity` has used up its hits of this window (the next one would be refused)."""
    return hits(name, identity) >= limit(name).count


@dataclass
class Hit:
    """One counted hit: `count` in its window (0 when the store failed), and how to give it back."""

    name: str
    key: str
    window_end: float
    count: int

    @property
    def allowed(self) -> bool:
        return self.count <= limit(self.name).count

    def give_back(self) -> None:
        if not self.count:
            return
        try:
            _store().incr(self.key, self.window_end, -1)
        except Exception:
            logger.warning("rate limit %s: a hit cannot be given back", self.name, exc_info=True)
        self.count = 0


def count_hit(name: str, identity: str) -> Hit:
    lim = limit(name)
    now = time.time()
    key, window_end = _key(lim, identity, now), _window_end(lim, now)
    try:
        count = _store().incr(key, window_end)
    except Exception:
        logger.warning("rate limit %s: the counters cannot be written; not counting", name, exc_info=True)
        count = 0
    return Hit(name, key, window_end, count)


def hit(name: str, identity: str) -> int:
    """Count one hit; returns the count of the window including this one (0 if the store failed)."""
    return count_hit(name, identity).count


def take(name: str, identity: str) -> bool:
    """Count one hit; False when it went over the limit (refuse the request)."""
    return count_hit(name, identity).allowed


def take_unless_exceeded(name: str, identity: str, check: str, check_identity: str) -> tuple[bool, bool]:
    """is_exceeded(check, check_identity), then take(name, identity) unless it was: (exceeded, allowed).

    With Redis both go in one round trip (the hit is counted with the check and given back when the
    check refuses, so in the end it counts only when the check passed); in the database, one after
    the other. A store that fails lets the request through, as is_exceeded and take do."""
    store = _store()
    if not isinstance(store, _RedisStore):
        if is_exceeded(check, check_identity):
            return True, False
        return False, take(name, identity)
    lim, check_lim = limit(name), limit(check)
    now = time.time()
    key, window_end = _key(lim, identity, now), _window_end(lim, now)
    try:
        seen, count = store.get_and_incr(_key(check_lim, check_identity, now), key, window_end)
    except Exception:
        logger.warning("rate limits %s, %s: the counters cannot be used; letting the request through",
                       check, name, exc_info=True)
        return False, True
    counted = Hit(name, key, window_end, count)
    if seen >= check_lim.count:
        counted.give_back()
        return True, False
    return False, counted.allowed


def retry_after(name: str) -> int:
    """Seconds until the current window of limit `name` ends."""
    lim = limit(name)
    now = time.time()
    return max(1, int(_window_end(lim, now) - now + 0.999))


def delete_ended_counts() -> str:
    """The periodic job: delete the database counters whose window has ended."""
    from accounts.models import RateCount

    deleted, _ = RateCount.objects.filter(window_end__lte=dt.datetime.now(dt.UTC)).delete()
    return f"{deleted} ended rate-limit counters deleted"


# --- The client's address -------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 192.0.2.1:443
        value = value.partition(":")[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _bucket(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    # One IPv6 host commonly holds a whole /64: per address it could take a fresh budget per request.
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_ip(request: HttpRequest) -> str:
    """The client's address (an IPv6 one as its /64), the identity of the per-address limits.

    REMOTE_ADDR, unless it is one of settings.SES_TRUSTED_PROXIES and settings.SES_CLIENT_IP_HEADER
    names the header those proxies set (e.g. X-Forwarded-For): then the header is read from the right,
    past the addresses of trusted proxies; the first untrusted one is the client. Entries further left
    were written by the client and may be forged. With no trusted proxy the header is ignored.
    """
    remote_raw = request.META.get("REMOTE_ADDR", "") or ""
    remote = _parse_ip(remote_raw)
    if remote is None:
        return remote_raw or "unknown"
    header, trusted = settings.SES_CLIENT_IP_HEADER, _networks(tuple(settings.SES_TRUSTED_PROXIES))
    if not (header and trusted):
        return _bucket(remote)

    def is_trusted(ip) -> bool:
        return any(ip.version == net.version and ip in net for net in trusted)

    client = remote
    if is_trusted(remote):
        for entry in reversed(request.headers.get(header, "").split(",")):
            ip = _parse_ip(entry)
            if ip is None:  # not an address: what follows was not written by a trusted proxy
                break
            client = ip
            if not is_trusted(ip):
                break
    return _bucket(client)


def check_client_ip_header(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check` (and every start): a header named with no proxy trusted to set it is ignored."""
    if settings.SES_CLIENT_IP_HEADER and not settings.SES_TRUSTED_PROXIES:
        return [
            checks.Warning(
                f"SES_CLIENT_IP_HEADER is {settings.SES_CLIENT_IP_HEADER!r} but SES_TRUSTED_PROXIES is empty: "
                "the header is ignored and the rate limits count the connection's address.",
                hint="Set SES_TRUSTED_PROXIES to the addresses or networks of your reverse proxies, e.g. 127.0.0.1.",
                id="accounts.W001",
            )
        ]
    return []


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()[:254]


# --- Sign-in: the console's login view and the admin's login form share these ---------------------


@dataclass
class LoginAttempt:
    """The hits a sign-in attempt holds while its password is checked.

    `retry_after` is set when the attempt is refused (it held nothing then); call `succeeded()` when
    the password was right: only failed attempts keep their hits.
    """

    held: list[Hit] = field(default_factory=list)
    retry_after: int | None = None

    @property
    def refused(self) -> bool:
        return self.retry_after is not None

    def succeeded(self) -> None:
        for held in self.held:
            held.give_back()
        self.held = []


def begin_login(request: HttpRequest, username: str) -> LoginAttempt:
    """Count a sign-in attempt against its limits before any password is tried.

    Refused (retry_after set, nothing kept) when the address, the user name from this address, or
    the user name alone has no hits left in its window.
    """
    ip, name = client_ip(request), normalise_username(username)
    limits = [(LOGIN_IP, ip)]
    if name:
        limits += [(LOGIN_USERNAME_IP, f"{name}\x00{ip}"), (LOGIN_USERNAME, name)]
    attempt = LoginAttempt()
    for limit_name, identity in limits:
        counted = count_hit(limit_name, identity)
        attempt.held.append(counted)
        if not counted.allowed:
            attempt.succeeded()  # a refused attempt keeps nothing: it tried no password
            attempt.retry_after = max(1, int(counted.window_end - time.time() + 0.999))
            break
    return attempt


def login_refused_message(retry_after: int) -> str:
    minutes = max(1, (retry_after + 59) // 60)
    return ngettext(
        "Too many failed sign-in attempts. Wait %(minutes)s minute and try again.",
        "Too many failed sign-in attempts. Wait %(minutes)s minutes and try again.",
        minutes,
    ) % {"minutes": minutes}
