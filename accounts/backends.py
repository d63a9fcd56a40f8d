"""The console's session store and authentication backend: a signed-in request's first two reads, cheap.

SessionStore (SESSION_ENGINE "accounts.backends" when the cache is Redis, see settings): Django's
cached_db sessions, read from the shared cache and written to the database and the cache. A
session the cache has lost is read from the database again. Ending a session (sign-out,
password change elsewhere cycling the key) removes it from the cache before the database: a
cache that cannot be reached makes the sign-out fail rather than leave a copy that would come
back with the cache.

ConsoleBackend (AUTHENTICATION_BACKENDS): Django's ModelBackend (the same sign-in, the same
rejection of inactive users) whose get_user reads the user, its membership, the account and the
account's freeze of today in one precompiled query (accounts.middleware.PrecompiledQuery), and
leaves the membership cached on the user, so CurrentAccountMiddleware asks nothing more.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends import cached_db
from django.db.models import FilteredRelation, Q
from django.utils import timezone

from accounts.middleware import PrecompiledQuery, _MembershipQuery, attach_membership
from accounts.models import Account, AccountFreeze, Membership

logger = logging.getLogger("django.contrib.sessions")


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # the cache is down (or the key invalid): the database answers
            logger.warning("Session cache unreachable on read (%s); reading the database", self._cache)
            data = None
        if data is not None:
            return data
        s = self._get_session_from_db()
        if not s:
            return {}
        data = self.decode(s.session_data)
        try:
            self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=s.expire_date))
        except Exception:
            logger.warning("Session cache unreachable on refill (%s)", self._cache)
        return data

    def exists(self, session_key):
        try:
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        except Exception:
            logger.warning("Session cache unreachable on a new key (%s); asking the database", self._cache)
        return super(cached_db.SessionStore, self).exists(session_key)

    def delete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        # The cache first: if it cannot be reached this raises and the session stays whole (the
        # sign-out fails visibly) instead of living on in a cache that comes back later.
        self._cache.delete(self.cache_key_prefix + session_key)
        super(cached_db.SessionStore, self).delete(session_key)

    def cycle_key(self):
        """A new key for the same data (signing in): the old key's cached copy, if the cache cannot be
        reached, is left to expire: it holds nothing the new key does not (Django flushes instead
        when another user signs in), so signing in works while the cache is down."""
        data = self._session
        key = self.session_key
        self.create()
        self._session_cache = data
        if key:
            try:
                self._cache.delete(self.cache_key_prefix + key)
            except Exception:
                logger.warning("Session cache unreachable when cycling a key (%s)", self._cache)
            super(cached_db.SessionStore, self).delete(key)


class _UserQuery(PrecompiledQuery):
    """SELECT a user with its membership, the account and the account's freeze of a day (LEFT JOINs)."""

    def __init__(self):
        super().__init__()
        # The user's fields, then the membership's, the account's and the freeze's as
        # accounts.middleware.attach_membership takes them.
        self.MODELS = ((get_user_model(), ""), (Membership, "membership__"), (Account, "membership__account__"),
                       (AccountFreeze, "freeze_of_day__"))
        assert tuple(model for model, _ in self.MODELS[1:]) == tuple(model for model, _ in _MembershipQuery.MODELS)

    def queryset(self, key, day):
        return (
            get_user_model()._default_manager.filter(pk=key)
            .annotate(
                freeze_of_day=FilteredRelation(
                    "membership__account__freezes",
                    condition=Q(membership__account__freezes__day=day,
                                membership__account__freezes__lifted_at__isnull=True),
                )
            )
            .values_list(*self.fields())
        )


_user_query = _UserQuery()


class ConsoleBackend(ModelBackend):
    """ModelBackend whose get_user also reads the membership, account and today's freeze (one query)."""

    def get_user(self, user_id):
        User = get_user_model()
        try:
            key = User._meta.pk.to_python(user_id)
        except Exception:
            return None
        day = timezone.localdate()
        alias = User._default_manager.db
        row = _user_query.run(key, day, alias)
        if row is None:
            return None
        width = len(User._meta.concrete_fields)
        user = User.from_db(alias, None, row[:width])
        if not self.user_can_authenticate(user):
            return None
        attach_membership(user, row[width:], alias, day)
        return user
