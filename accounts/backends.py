"""The console's session store and authentication backend: a signed-in request's first read, one query.

SessionStore (SESSION_ENGINE "accounts.backends"): Django's database sessions in accounts.Session,
whose `user` column holds the signed-in user's id (set at each save from the session's data). Its
load() reads the session (by key, not expired) with its user, the user's membership, the account
and the account's freeze of today in one precompiled query (accounts.middleware.PrecompiledQuery)
and keeps the user as `loaded_user`; a cookie that is not shaped as Django's session keys (32 of
a-z0-9) is no session and is never looked up. Expired sessions are deleted by the periodic job
`delete_expired_sessions` (or `manage.py clearsessions`).

ConsoleBackend (AUTHENTICATION_BACKENDS): Django's ModelBackend (the same sign-in, the same
rejection of inactive users) whose get_user takes the user the request's session was read with
(accounts.middleware.ConsoleAuthenticationMiddleware makes the session at hand) when it is that
user; otherwise it reads the user with its membership, the account and today's freeze in one
query. Either way the membership is cached on the user, so CurrentAccountMiddleware asks nothing
more. django.contrib.auth.get_user still checks the session's auth hash (a password change signs
out the other sessions).
"""

from __future__ import annotations

import datetime as dt
import re

from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends import db
from django.utils import timezone

from accounts.middleware import (
    AUTHENTICATING_SESSION,
    PrecompiledQuery,
    attach_membership,
    freeze_of_day,
    membership_models,
)
from accounts.models import Session
from core.clock import platform_today


def _user_id_in(data) -> object | None:
    """The signed-in user's id in a session's data, as the user model's primary key, or None."""
    value = data.get(SESSION_KEY)
    if value is None:
        return None
    try:
        return get_user_model()._meta.pk.to_python(value)
    except Exception:  # not an id of this user model: nobody
        return None


class _SessionQuery(PrecompiledQuery):
    """SELECT a session that has not expired with its user, the user's membership, the account and the
    account's freeze of a day (LEFT JOINs: a session without a user, a user without a membership)."""

    STAND_INS = {"key": "precompiled0stand0in0session0key0", "now": dt.datetime(1901, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
                 "day": dt.date(1901, 2, 3)}
    FIELDS = {"key": None, "now": "accounts.Session.expire_date", "day": "accounts.AccountFreeze.day"}

    def __init__(self):
        super().__init__()
        self.MODELS = ((Session, ""), (get_user_model(), "user__"), *membership_models("user__membership__"))

    def queryset(self, key, now, day):
        return (
            Session.objects.filter(session_key=key, expire_date__gt=now)
            .annotate(freeze_of_day=freeze_of_day("user__membership__", day))
            .values_list(*self.fields())
        )


_session_query = _SessionQuery()

# The shape of every session key Django makes (get_random_string(32, VALID_KEY_CHARS)). A cookie of any
# other shape is no session: it is never looked up (a NUL in it is a database error on PostgreSQL).
_SESSION_KEY_SHAPE = re.compile(r"[a-z0-9]{32}")


class SessionStore(db.SessionStore):
    # The session's user read with it by load() (None: nobody signed in, or not read yet), its
    # membership, account and today's freeze cached on it; ConsoleBackend.get_user hands it out.
    loaded_user = None

    @classmethod
    def get_model_class(cls):
        return Session

    def _validate_session_key(self, key):
        # Django's rule is a key of 8 characters or more; a key not of Django's shape becomes None
        # (no session) as soon as it is set, so load(), exists() and delete() never look it up.
        return isinstance(key, str) and _SESSION_KEY_SHAPE.fullmatch(key) is not None

    def exists(self, session_key):
        return self._validate_session_key(session_key) and super().exists(session_key)

    def delete(self, session_key=None):
        if session_key is not None and not self._validate_session_key(session_key):
            return
        super().delete(session_key)

    def load(self):
        self.loaded_user = None
        if self.session_key is None:  # no cookie, or one that is no session key
            self._session_key = None
            return {}
        now = timezone.now()
        day = timezone.localdate(now)
        alias = Session.objects.db
        row = _session_query.run(alias, key=self.session_key, now=now, day=day)
        if row is None:  # no such session, or expired
            self._session_key = None
            return {}
        fields = [f.attname for f in Session._meta.concrete_fields]
        session_data, user_id = row[fields.index("session_data")], row[fields.index("user_id")]
        User = get_user_model()
        values = row[len(fields):]
        width = len(User._meta.concrete_fields)
        if user_id is not None and values[User._meta.concrete_fields.index(User._meta.pk)] is not None:
            user = User.from_db(alias, None, values[:width])
            attach_membership(user, values[width:], alias, day)
            self.loaded_user = user
        return self.decode(session_data)

    def clear(self):
        super().clear()
        self.loaded_user = None

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        session.user_id = _user_id_in(data)
        return session

    async def acreate_model_instance(self, data):
        session = await super().acreate_model_instance(data)
        session.user_id = _user_id_in(data)
        return session


def delete_expired_sessions() -> str:
    """The periodic job `delete_expired_sessions` (ops.periodic): what `manage.py clearsessions`
    does, with a count. An expired session signs nobody in even before it is deleted."""
    count = Session.objects.filter(expire_date__lt=timezone.now()).delete()[0]
    return f"{count} expired session(s) deleted"


class _UserQuery(PrecompiledQuery):
    """SELECT a user with its membership, the account and the account's freeze of a day (LEFT JOINs)."""

    def __init__(self):
        super().__init__()
        # The user's fields, then the membership's, the account's and the freeze's as
        # accounts.middleware.attach_membership takes them.
        self.MODELS = ((get_user_model(), ""), *membership_models("membership__"))

    def queryset(self, key, day):
        return (
            get_user_model()._default_manager.filter(pk=key)
            .annotate(freeze_of_day=freeze_of_day("membership__", day))
            .values_list(*self.fields())
        )


_user_query = _UserQuery()


class ConsoleBackend(ModelBackend):
    """ModelBackend whose get_user takes the user read with the request's session, or reads it with its
    membership, account and today's freeze (one query)."""

    def get_user(self, user_id):
        User = get_user_model()
        try:
            key = User._meta.pk.to_python(user_id)
        except Exception:
            return None
        user = getattr(AUTHENTICATING_SESSION.get(), "loaded_user", None)
        if user is None or user.pk != key:
            day = platform_today()
            alias = User._default_manager.db
            row = _user_query.run(alias, key=key, day=day)
            if row is None:
                return None
            width = len(User._meta.concrete_fields)
            user = User.from_db(alias, None, row[:width])
            attach_membership(user, row[width:], alias, day)
        if not self.user_can_authenticate(user):
            return None
        return user
