"""A signed API request that changes something is accepted once (SPEC §4.6): the store of the
signatures already accepted, and the rule that decides on a signature seen before.

The official SDKs sign the body, Content-Type, Host and X-TC-Timestamp (in whole seconds), but
neither X-TC-Action nor a nonce: a request captured in flight could be sent again, or sent again as
another action, for as long as its timestamp is inside the window (SES_API_TIMESTAMP_WINDOW_SECONDS).
And ordinary SDK traffic repeats signatures: two calls with one body (`{}` to two List actions) in
one second carry the same one. So api.auth records each signature it has verified here, before the
action runs, with whether its first use was a read (is_read_only), and a signature seen before is

- accepted when the payload is signed (not X-TC-Content-SHA256: UNSIGNED-PAYLOAD), its first use
  was a read AND this request is a read: a read may be repeated within the window (it changes
  nothing, and whoever sends it again already had the answer in flight);
- otherwise refused as a replay: a write sent twice, a write reusing a read's signature (the
  captured GetEmailTemplate sent again as DeleteEmailTemplate), any reuse of a write's signature,
  and any reuse with UNSIGNED-PAYLOAD (the body is not signed then, so every call of one key in
  one second has the same signature, whatever its parameters).

    is_read_only(action)                                       the actions that change nothing
    accept(secret_id, signature, timestamp, action, payload_signed)
                                                               False when refused as a replay
    delete_expired()                                           the periodic job `delete_expired_signatures`

The store is the one accounts.ratelimit counts in, keyed by the hashed SecretId and signature:
- Redis (ratelimit.redis_cache()): SET key r|w NX EX, atomic; when the key exists, a GET of it.
- else the database: accounts.AcceptedSignature, one INSERT … ON CONFLICT (key) DO NOTHING that
  inserts nothing for a signature seen before, then a SELECT of that row's read_only; of concurrent
  duplicates the unique key lets exactly one insert (so of concurrent duplicate writes one runs).
A record is kept until its timestamp has left the window, plus CLOCK_MARGIN for web servers whose
clocks disagree: while a signature could still pass the timestamp check, it is remembered. A record
that disappears between the two statements (it expired) counts as a write: refused.

Unlike the rate limits, the guard never lets a request through unrecorded (that would reopen the
replay and the action swap). Redis that cannot be reached: the signature goes to the database
(logged), so the API stays up and still refuses replays. The database that cannot be reached: the
error propagates and the API answers FailedOperation.ServiceNotAvailable, with nothing done (the
database is required anyway). The one gap is the switch itself: a signature recorded in Redis just
before it went down is unknown to the database (and the other way round when Redis is back), so it
could be accepted a second time, within its window only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import math
import time

from django.conf import settings
from django.db import connection, transaction

from accounts import ratelimit
from api.registry import ACTIONS

logger = logging.getLogger(__name__)

# Kept this much past the timestamp window: web servers whose clocks are apart by less than this
# still never accept a signature that another one has forgotten.
CLOCK_MARGIN_SECONDS = 60

_TABLE = "accounts_acceptedsignature"


def _key(secret_id: str, signature: str) -> str:
    digest = hashlib.sha256(f"{secret_id}\x00{signature}".encode()).hexdigest()
    return f"{ratelimit.namespace}:sig:{digest}"


def expires_at(timestamp: int) -> float:
    """When a signature of X-TC-Timestamp `timestamp` can be forgotten: it is refused as expired by then."""
    return timestamp + settings.SES_API_TIMESTAMP_WINDOW_SECONDS + CLOCK_MARGIN_SECONDS


# The API's naming: every action that reads starts so, and no other does (test_replay lists them).
READ_ONLY_PREFIXES = ("Get", "List")


def is_read_only(action: str) -> bool:
    """Whether the action (the X-TC-Action header) only reads: a registered Get… or List…. A name no
    action has counts as a write, so a held-back write sent first under a made-up read name does not
    mark its signature as a read's."""
    return action in ACTIONS and action.startswith(READ_ONLY_PREFIXES)


def accept(secret_id: str, signature: str, timestamp: int, action: str, payload_signed: bool) -> bool:
    """Record a verified signature; False when it was recorded before and may not be repeated (the
    module docstring's rule): the request is a replay.

    Raises the database's error when neither Redis nor the database can record it."""
    key, until, read_only = _key(secret_id, signature), expires_at(timestamp), is_read_only(action)
    backend = ratelimit.redis_cache()
    first_read_only = None
    try:
        if backend is not None:
            first_read_only = _add_in_redis(backend, key, until, read_only)
    except Exception:
        logger.warning("replay guard: Redis cannot be reached; recording the signature in the database",
                       exc_info=True)
        backend = None
    if backend is None:
        first_read_only = _add_in_database(key, until, read_only)
    if first_read_only is None:
        return True
    return payload_signed and read_only and first_read_only


def _add_in_redis(backend, key: str, until: float, read_only: bool) -> bool | None:
    """None when recorded now; else whether the signature's first use was a read."""
    name = backend.make_and_validate_key(key)
    client = backend._cache.get_client(name, write=True)
    if client.set(name, b"r" if read_only else b"w", nx=True, ex=max(1, math.ceil(until - time.time()))):
        return None
    return client.get(name) == b"r"


def _add_in_database(key: str, until: float, read_only: bool) -> bool | None:
    """None when recorded now; else whether the signature's first use was a read."""
    q = connection.ops.quote_name
    insert = (
        f"INSERT INTO {q(_TABLE)} ({q('key')}, {q('expires_at')}, {q('read_only')}) VALUES (%s, %s, %s) "
        f"ON CONFLICT ({q('key')}) DO NOTHING"
    )
    select = f"SELECT {q('read_only')} FROM {q(_TABLE)} WHERE {q('key')} = %s"
    expiry = connection.ops.adapt_datetimefield_value(dt.datetime.fromtimestamp(until, dt.UTC))
    # Inside a caller's transaction a failed statement must not spoil it: a savepoint. Outside
    # (autocommit, as requests run) the statement is its own transaction, committed at once, so a
    # concurrent duplicate waits for it, inserts nothing, and then reads the committed row.
    statement = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with statement, connection.cursor() as cursor:
        cursor.execute(insert, [key, expiry, read_only])
        if cursor.rowcount == 1:
            return None
        cursor.execute(select, [key])
        row = cursor.fetchone()
        return bool(row and row[0])


def delete_expired() -> str:
    """The periodic job: delete the database records whose signatures can no longer be accepted."""
    from accounts.models import AcceptedSignature

    deleted, _ = AcceptedSignature.objects.filter(expires_at__lte=dt.datetime.now(dt.UTC)).delete()
    return f"{deleted} expired accepted signatures deleted"
