"""request.account: the signed-in member's account, read with its freeze of the day in one query.

Every console page asks this before its own work, so the query is built by the ORM once per process
and database (the SQL text, its parameters' places and the columns' converters) and each request
only runs it: building an ORM query costs more CPU than the database takes to answer this one.
"""

from __future__ import annotations

import datetime as dt
import threading

from django.core.exceptions import ObjectDoesNotExist
from django.db import connections
from django.db.models import FilteredRelation, Q
from django.utils import timezone

from accounts.models import Account, AccountFreeze, Membership

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
    """A query by a key (a user's id) and a day, built by the ORM once per database alias.

    Generated the first time for each alias from the models' fields, with stand-in values whose
    places in the parameters are then filled with each call's. A subclass names the models whose
    concrete fields the row holds, in order, with their prefixes from the queryset's model
    (`MODELS`), and the queryset (`queryset(key, day)`, a values_list of those fields).
    """

    _KEY = -7_391_205  # stand-ins: no user or day has these
    _DAY = dt.date(1901, 2, 3)
    MODELS: tuple = ()

    def __init__(self):
        self._compiled: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def queryset(self, key, day):
        raise NotImplementedError

    def fields(self) -> list[str]:
        return [prefix + f.attname for model, prefix in self.MODELS for f in model._meta.concrete_fields]

    def _compile(self, alias: str) -> tuple:
        connection = connections[alias]
        compiler = self.queryset(self._KEY, self._DAY)[:1].query.get_compiler(alias)
        sql, params = compiler.as_sql()
        day = AccountFreeze._meta.get_field("day").get_db_prep_value(self._DAY, connection)
        places = {"key": [i for i, p in enumerate(params) if p == self._KEY],
                  "day": [i for i, p in enumerate(params) if p == day]}
        if len(params) != 2 or places["key"] == places["day"] or any(len(v) != 1 for v in places.values()):
            raise RuntimeError(f"unexpected parameters in {type(self).__name__}: {params!r}")
        converters = compiler.get_converters([column[0] for column in compiler.select])
        return sql, places["key"][0], places["day"][0], list(converters.items())

    def run(self, key: int, day: dt.date, alias: str) -> list | None:
        """The row's values, converted as the ORM converts them, or None without a row."""
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(alias, self._compile(alias))
        sql, key_place, day_place, converters = compiled
        connection = connections[alias]
        params = [None, None]
        params[key_place] = key
        params[day_place] = AccountFreeze._meta.get_field("day").get_db_prep_value(day, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for place, (functions, expression) in converters:
            for function in functions:
                row[place] = function(row[place], expression, connection)
        return row


class _MembershipQuery(PrecompiledQuery):
    """SELECT the membership of a user, its account and the account's freeze of a day (LEFT JOIN)."""

    MODELS = ((Membership, ""), (Account, "account__"), (AccountFreeze, "freeze_of_day__"))

    def queryset(self, key, day):
        return (
            Membership.objects.filter(user_id=key)
            .annotate(
                freeze_of_day=FilteredRelation(
                    "account__freezes",
                    condition=Q(account__freezes__day=day, account__freezes__lifted_at__isnull=True),
                )
            )
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
    day = day or timezone.localdate()
    alias = Membership.objects.db
    return attach_membership(user, _membership_query.run(user.pk, day, alias), alias, day)


def _membership_of(user) -> Membership | None:
    """The membership read with the user (accounts.backends) if it was read for today, else read now."""
    today = timezone.localdate()
    if getattr(user, MEMBERSHIP_DAY, None) == today:
        return user.__class__.membership.related.get_cached_value(user, default=None)
    return load_membership(user, today)


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
