"""A signed API request is accepted once (SPEC §4.6): the store of the signatures already accepted.

The official SDKs sign the body, Content-Type, Host and X-TC-Timestamp, but neither X-TC-Action nor
a nonce: a request captured in flight could be sent again, or sent again as another action, for as
long as its timestamp is inside the window (SES_API_TIMESTAMP_WINDOW_SECONDS). api.auth records each
signature it has verified here, before the action runs; a second request with it is a replay.

    accept_once(secret_id, signature, timestamp)  True the first time, False for a replay
    delete_expired()                              the periodic job `delete_expired_signatures`

The store is the one accounts.ratelimit counts in, keyed by the hashed SecretId and signature:
- Redis (ratelimit.redis_cache()): SET key NX EX, atomic.
- else the database: accounts.AcceptedSignature, one INSERT … ON CONFLICT (key) DO NOTHING that
  inserts nothing for a replay; of concurrent duplicates the unique key lets exactly one insert.
A record is kept until its timestamp has left the window, plus CLOCK_MARGIN for web servers whose
clocks disagree: while a signature could still pass the timestamp check, it is remembered.

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


def accept_once(secret_id: str, signature: str, timestamp: int) -> bool:
    """Record a verified signature; False when it was recorded before (the request is a replay).

    Raises the database's error when neither Redis nor the database can record it."""
    key, until = _key(secret_id, signature), expires_at(timestamp)
    backend = ratelimit.redis_cache()
    if backend is not None:
        try:
            return _add_in_redis(backend, key, until)
        except Exception:
            logger.warning("replay guard: Redis cannot be reached; recording the signature in the database",
                           exc_info=True)
    return _add_in_database(key, until)


def _add_in_redis(backend, key: str, until: float) -> bool:
    name = backend.make_and_validate_key(key)
    client = backend._cache.get_client(name, write=True)
    return bool(client.set(name, b"1", nx=True, ex=max(1, math.ceil(until - time.time()))))


def _add_in_database(key: str, until: float) -> bool:
    q = connection.ops.quote_name
    insert = (
        f"INSERT INTO {q(_TABLE)} ({q('key')}, {q('expires_at')}) VALUES (%s, %s) "
        f"ON CONFLICT ({q('key')}) DO NOTHING"
    )
    expiry = connection.ops.adapt_datetimefield_value(dt.datetime.fromtimestamp(until, dt.UTC))
    # Inside a caller's transaction a failed statement must not spoil it: a savepoint. Outside
    # (autocommit, as requests run) the statement is its own transaction, committed at once, so a
    # concurrent duplicate waits for it and then inserts nothing.
    statement = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with statement, connection.cursor() as cursor:
        cursor.execute(insert, [key, expiry])
        return cursor.rowcount == 1


def delete_expired() -> str:
    """The periodic job: delete the database records whose signatures can no longer be accepted."""
    from accounts.models import AcceptedSignature

    deleted, _ = AcceptedSignature.objects.filter(expires_at__lte=dt.datetime.now(dt.UTC)).delete()
    return f"{deleted} expired accepted signatures deleted"
