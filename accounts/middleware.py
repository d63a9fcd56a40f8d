"""request.account: the signed-in member's account, read with its freeze of the day in one query.

Every console page asks this before its own work, so the query is built by the ORM once per process
and database (the SQL text, its parameters' places and the columns' converters) and each request
only runs it: building an ORM query costs more CPU than the database takes to answer this one.
The session store (accounts.backends) reads the user with the session in such a query, and
ConsoleAuthenticationMiddleware lets the backend take it from there.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading

from django.apps import apps
from django.contrib import auth
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.core.exceptions import ObjectDoesNotExist
from django.db import connections
from django.db.models import FilteredRelation, Q
from django.utils.functional import SimpleLazyObject

from accounts.models import Account, AccountFreeze, Membership
from core.clock import platform_today
from core.prepared import convert_row, execute_prepared

# The request methods that change nothing: a page they render may show the freeze state read with
# the membership at the start of the request (see accounts.context_processors.console).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def account_of(user):
    """The account a user is a member of, or None (anonymous users, staff without an account)."""
    if not user.is_authenticated:
        return None
    try:
        return user.membership.account
    except ObjectDoesNotExist:
        return None


class PrecompiledQuery:
    """A query by a few values (by default a user's id `key` and a `day`), built by the ORM once per
    database alias.

    Generated the first time for each alias from the models' fields, with stand-in values whose
    places in the parameters are then filled with each call's. A subclass names the models whose
    concrete fields the row holds, in order, with their prefixes from the queryset's model
    (`MODELS`), the stand-ins of its values (`STAND_INS`: each must be a parameter of the SQL exactly
    once, and the SQL must have no other), the field that prepares each value for the database
    (`FIELDS`, "model label.field name"), and the queryset (`queryset(**values)`, a values_list of
    those fields).
    """

    STAND_INS: dict = {"key": -7_391_205, "day": dt.date(1901, 2, 3)}  # no user or day has these
    FIELDS: dict = {"key": None, "day": "accounts.AccountFreeze.day"}  # None: passed as it is
    MODELS: tuple = ()

    def __init__(self):
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def queryset(self, **values):
        raise NotImplementedError

    def fields(self) -> list[str]:
        return [prefix + f.attname for model, prefix in self.MODELS for f in model._meta.concrete_fields]

    def _field(self, name: str):
        label = self.FIELDS[name]
        if label is None:
            return None
        model, field = label.rsplit(".", 1)
        return apps.get_model(model)._meta.get_field(field)

    def _compile(self, alias: str) -> tuple:
        connection = connections[alias]
        compiler = self.queryset(**self.STAND_INS)[:1].query.get_compiler(alias)
        sql, params = compiler.as_sql()
        places = {}
        for name, value in self.STAND_INS.items():
            field = self._field(name)
            prepared = value if field is None else field.get_db_prep_value(value, connection)
            places[name] = [i for i, p in enumerate(params) if p == prepared]
        found = [place for v in places.values() for place in v]
        if len(params) != len(places) or len(found) != len(places) or len(set(found)) != len(found):
            raise RuntimeError(f"unexpected parameters in {type(self).__name__}: {params!r}")
        converters = compiler.get_converters([column[0] for column in compiler.select])
        places = [(name, found[0], self._field(name)) for name, found in places.items()]
        return sql, places, [(place, functions, expr) for place, (functions, expr) in converters.items()]

    def run(self, alias: str, **values) -> list | None:
        """The row's values, converted as the ORM converts them, or None without a row."""
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(alias, self._compile(alias))
        sql, places, converters = compiled
        connection = connections[alias]
        params = [None] * len(places)
        for name, place, field in places:
            value = values[name]
            params[place] = value if field is None else field.get_db_prep_value(value, connection)
        # On PostgreSQL a prepared statement, planned once per connection: planning these joins takes
        # the server several times longer than running them.
        if connection.vendor == "postgresql":
            rows = execute_prepared(alias, sql, params)
            row = rows[0] if rows else None
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        return None if row is None else convert_row(row, converters, connection)


def freeze_of_day(prefix: str, day) -> FilteredRelation:
    """The freeze in force (not lifted) on `day` of the account of the membership at `prefix` from the
    queryset's model ("" for a membership): annotated as `freeze_of_day`, a LEFT JOIN."""
    freezes = f"{prefix}account__freezes"
    return FilteredRelation(freezes, condition=Q(**{f"{freezes}__day": day, f"{freezes}__lifted_at__isnull": True}))


def membership_models(prefix: str) -> tuple:
    """The MODELS of a PrecompiledQuery for a membership at `prefix`, its account and the account's
    freeze of the day (freeze_of_day), in the order attach_membership takes their fields."""
    return ((Membership, prefix), (Account, f"{prefix}account__"), (AccountFreeze, "freeze_of_day__"))


class _MembershipQuery(PrecompiledQuery):
    """SELECT the membership of a user, its account and the account's freeze of a day (LEFT JOIN)."""

    MODELS = membership_models("")

    def queryset(self, key, day):
        return (
            Membership.objects.filter(user_id=key)
            .annotate(freeze_of_day=freeze_of_day("", day))
            .values_list(*self.fields())
        )


_membership_query = _MembershipQuery()

# Set on a user whose membership (or its absence) was read with the account's freeze of that day
# (by load_membership or accounts.backends.ConsoleBackend): the middleware asks nothing more.
MEMBERSHIP_DAY = "_console_membership_day"


def attach_membership(user, values, alias: str, day: dt.date) -> Membership | None:
    """Cache on `user` the membership built from `values` (the concrete fields of a membership, its
    account and the freeze of `day`, as _MembershipQuery selects them), or its absence (None or a
    membership id of None: a LEFT JOIN that found none)."""
    membership = None
    if values is not None and values[0] is not None:
        values = iter(values)
        membership, account, freeze = (
            model.from_db(alias, None, [next(values) for _ in model._meta.concrete_fields])
            for model, _ in _MembershipQuery.MODELS
        )
        Membership.account.field.set_cached_value(membership, account)
        Membership.user.field.set_cached_value(membership, user)
        if freeze.pk is None:  # the LEFT JOIN found no freeze
            freeze = None
        else:
            AccountFreeze.account.field.set_cached_value(freeze, account)
        account.today_freeze = freeze
    user.__class__.membership.related.set_cached_value(user, membership)  # (user may be a lazy object)
    setattr(user, MEMBERSHIP_DAY, day)
    return membership


def load_membership(user, day: dt.date | None = None) -> Membership | None:
    """The user's membership with its account and the account's freeze of `day`, in one query.

    `day` defaults to today's platform day, as Account.active_freeze. The freeze in force (not
    lifted) that day is `membership.account.today_freeze`, None without one. The membership is
    cached on the user (`user.membership` asks nothing more); a user without one gets None, and
    `user.membership` raises Membership.DoesNotExist without a query, as after a first access.
    """
    day = day or platform_today()
    alias = Membership.objects.db
    return attach_membership(user, _membership_query.run(alias, key=user.pk, day=day), alias, day)


def _membership_of(user) -> Membership | None:
    """The membership read with the user (accounts.backends) if it was read for today, else read now."""
    today = platform_today()
    if getattr(user, MEMBERSHIP_DAY, None) == today:
        return user.__class__.membership.related.get_cached_value(user, default=None)
    return load_membership(user, today)


# The session of the request being authenticated (ConsoleAuthenticationMiddleware): the backend
# takes from it the user the session was read with (accounts.backends), if it is the session's user.
AUTHENTICATING_SESSION: contextvars.ContextVar = contextvars.ContextVar("console_authenticating_session",
                                                                       default=None)


def _user_of(request):
    if not hasattr(request, "_cached_user"):
        token = AUTHENTICATING_SESSION.set(request.session)
        try:
            request._cached_user = auth.get_user(request)  # Django's checks: backend, session hash…
        finally:
            AUTHENTICATING_SESSION.reset(token)
    return request._cached_user


class ConsoleAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware, request.user read by django.contrib.auth.get_user as there
    (the backend, the session's auth hash, a flush when it does not verify), but with the request's
    session at hand: accounts.backends.ConsoleBackend takes the user from it when the session was
    read with it, instead of a query of its own."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _user_of(request))


class CurrentAccountMiddleware:
    """Sets request.account: the signed-in member's account, or None.

    One query answers the membership, its account and the account's freeze today (the layout's
    banner): the user's own when the user was loaded with them (accounts.backends.ConsoleBackend),
    else one of its own; anonymous requests ask nothing (their session has no user).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        membership = _membership_of(user) if user.is_authenticated else None
        request.account = membership.account if membership is not None else None
        if membership is not None:
            _remember_language(request, membership)
        return self.get_response(request)


def _remember_language(request, membership) -> None:
    """The member's language is the one they last used the console in: emails to them follow it."""
    language = getattr(request, "LANGUAGE_CODE", "")
    if language and membership.language != language:
        membership.language = language
        type(membership).objects.filter(pk=membership.pk).update(language=language)
