"""Bad input, generated, against every console page (issue 6): the URL conf is walked, so a new page
is covered without touching this file. Each page gets generated POST data — its own form's field
names (read from the page a person sees) with junk values, extra fields, repeated fields — and
generated query strings. Never a 500 (the test client re-raises any uncaught exception); a refused
submission (400) changes nothing in the database and shows an error; the sign-in form likewise.

Machine endpoints (the signed API at /, /inbound/, the tracking links under /t/) and the Django
admin are not console forms: test_bad_input_api and test_bad_input_inbound cover the first two.

Unusable characters (core.unusable: NUL, controls, lone surrogates, noncharacters) are not left to
chance (issue 12): every query parameter and every form field of every page gets a drawn one, and
the answer must be the 400 page that names it, with nothing changed.
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from accounts.models import ApiKey
from batches.lists import importer
from batches.lists import services as list_services
from batches.models import BatchTask
from batches.services import create_task
from core import unusable
from notify.models import CallbackDelivery
from sending import services as sending_services
from sending.tests.inbound_fixtures import make_message

# SES_FUZZ_SCALE=10 runs ten times the examples, for a deeper search than CI's bounded run.
FUZZ_SCALE = float(os.environ.get("SES_FUZZ_SCALE", "1"))
HYPOTHESIS = settings(
    max_examples=round(4 * FUZZ_SCALE), deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Not console pages: the signed API (POST /), machine endpoints, the tracking links, the admin.
SKIPPED_PREFIXES = ("inbound/", "t/", "admin/")


# Counted for every request, refused or not (the rate limiter's windows): not a write of the request's.
BOOKKEEPING = {"accounts.RateCount"}


def db_snapshot() -> dict:
    """Every model's row count in one query, and a digest of the rows a form could change."""
    models = [model for model in apps.get_models() if model._meta.managed and model._meta.label not in BOOKKEEPING]
    tables = sorted({model._meta.db_table for model in models})
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables))
        counts = dict(zip(tables, cursor.fetchone(), strict=True))
    watched = {}
    for label in ("domains.SenderDomain", "sending.SenderAddress", "sending.Template", "batches.ReceiverList",
                  "batches.BatchTask", "accounts.ApiKey", "notify.CallbackEndpoint", "sending.Suppression"):
        model = apps.get_model(label)
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("last_used_at", "updated_at")]
        watched[label] = sorted(map(repr, model.objects.values_list(*fields)))
    return {"counts": counts, "rows": watched}


# --- the console's pages, from the URL conf ------------------------------------------------------


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route


def console_routes() -> list[str]:
    routes = []
    for route in _walk(get_resolver().url_patterns):
        route = route.lstrip("^").rstrip("$")
        if route == "" or route.startswith(SKIPPED_PREFIXES):
            continue
        routes.append(route)
    return sorted(set(routes))


_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


class World:
    """One account with one of everything a console URL can name, and its signed-in owner."""

    def __init__(self, client, owner, account, verified_domain):
        self.client = client
        client.force_login(owner)
        self.key, _ = ApiKey.issue(account)
        self.sender = sending_services.create_sender_address(account, "news@mail.alice.example", "Alice News")
        self.template = sending_services.create_template(
            account, name="Welcome", subject="Hi {{name}}", html="<p>Hi {{name}}</p>", text="Hi {{name}}",
        )
        self.list = list_services.create_list(account, "Customers", "")
        importer.add_receivers(self.list, [("ann@example.com", {"name": "Ann"})])
        self.task = create_task(
            account, from_address=self.sender.email, receiver_list_id=self.list.pk, template_id=self.template.pk,
            subject="", task_type=BatchTask.IMMEDIATE, begin_time=None, interval_hours=None, unsubscribe=0,
        )
        self.message = make_message(verified_domain, "reader@example.org")
        self.delivery = CallbackDelivery.objects.create(
            account=account, event="delivered", message_id=self.message.message_id,
            url="https://hooks.alice.example/ses", payload={"event": "delivered"},
        )
        self.domain = verified_domain
        self.ids = sorted({obj.pk for obj in (
            self.key, self.sender, self.template, self.list, self.task, self.delivery, self.domain,
        )})

    def urls(self, route: str) -> list[str]:
        """The route with each parameter filled in by every id of the account's objects (one of them is
        the page's own kind), or with the message id for a string parameter."""
        if not _CONVERTER.search(route):
            return ["/" + route]
        found = []
        for pk in self.ids:
            found.append("/" + _CONVERTER.sub(
                lambda m, pk=pk: self.message.message_id if m.group(1) in (None, "str", "slug") else str(pk), route,
            ))
        return sorted(set(found))


@pytest.fixture
def world(client, owner, account, verified_domain) -> World:
    return World(client, owner, account, verified_domain)


class _FieldNames(HTMLParser):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "select", "textarea") and attrs.get("name") and attrs["name"] != "csrfmiddlewaretoken":
            self.names.add(attrs["name"])


def form_field_names(client, url: str) -> list[str]:
    response = client.get(url)
    if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
        return []
    parser = _FieldNames()
    parser.feed(response.content.decode("utf-8", "replace"))
    return sorted(parser.names)


# --- generated submissions -----------------------------------------------------------------------

junk_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from([
        "", " ", "\x00", "a\x00b", "0", "-1", "99999999999999999999999999", "1e400", "NaN", "true", "on",
        "2026-02-30", "9999-12-31T23:59", "0000-00-00", "2026-11-27", "<script>alert(1)</script>", "' OR 1=1 --",
        "../../etc/passwd", "http://127.0.0.1:22/", "javascript:alert(1)", "\u202e", "😀" * 50,
        "x@y", "news@mail.alice.example", "mail.alice.example", "{}", "[]", '{"name": "\\u0000"}',
    ]),
    st.integers(min_value=1, max_value=50_000).map(lambda n: "y" * n),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)


# Every unusable character (core.unusable), each kind drawn as often as the others; NUL first, so
# that a failure shrinks to it. (A form or a query string is UTF-8: a lone surrogate cannot be sent.)
_CONTROLS = [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r"]
_NONCHARACTERS = [chr(c) for c in range(0xFDD0, 0xFDF0)] + [chr(p + c) for p in range(0, 0x110000, 0x10000) for c in (0xFFFE, 0xFFFF)]
unusable_chars = st.one_of(st.sampled_from(_CONTROLS), st.sampled_from(_NONCHARACTERS))
_usable_text = st.text(alphabet=st.sampled_from("aZ0 .@_-é中😀\t\n"), max_size=4)
_usable_name = st.text(alphabet=st.sampled_from("aZ0.@_-é中😀"), max_size=4)  # a multipart name loses its edge spaces


def submissions(names: list[str]):
    field_names = st.sampled_from(names) if names else st.nothing()
    values = st.one_of(junk_values, st.lists(junk_values, min_size=2, max_size=3))
    return st.dictionaries(st.one_of(field_names, field_names, st.text(max_size=10)), values, max_size=8)


def _is_error_page(response) -> bool:
    body = response.content.decode("utf-8", "replace")
    return "errorlist" in body or "error" in body.lower()


# --- the tests -----------------------------------------------------------------------------------


def test_the_walk_finds_the_console_pages():
    routes = console_routes()
    for expected in ("domains/", "addresses/", "templates/new/", "lists/", "batches/new/", "callbacks/", "stats/"):
        assert expected in routes
    assert not any(route.startswith(SKIPPED_PREFIXES) for route in routes)


@pytest.mark.parametrize("route", console_routes())
def test_generated_posts_and_query_strings_never_fail_and_a_refusal_changes_nothing(world, route):
    urls = world.urls(route)
    names = sorted({name for url in urls for name in form_field_names(world.client, url)})
    query_names = names + ["page", "errors", "status", "start", "end", "domain", "mailbox_type", "day", "message_id", "q"]

    @HYPOTHESIS
    @given(url=st.sampled_from(urls), data=submissions(names), htmx=st.booleans())
    def post(url, data, htmx):
        with transaction.atomic():
            before = db_snapshot()
            headers = {"HX-Request": "true"} if htmx else {}
            response = world.client.post(url, data, headers=headers)
            assert response.status_code < 500
            if response.status_code == 400:
                assert _is_error_page(response), url
                assert db_snapshot() == before, (url, data)
            transaction.set_rollback(True)

    @HYPOTHESIS
    @given(url=st.sampled_from(urls), params=submissions(query_names))
    def get(url, params):
        with transaction.atomic():
            before = db_snapshot()
            response = world.client.get(url, params)
            assert response.status_code < 500
            assert db_snapshot() == before, (url, params)  # a GET changes nothing, whatever it is given
            transaction.set_rollback(True)

    post()
    get()


# The query parameters any page may read (forms read more: the names come from the page too).
QUERY_NAMES = ["page", "errors", "status", "start", "end", "domain", "mailbox_type", "day", "message_id", "q", "next"]
# Each example already names the field and the character it failed on: no shrinking, which would
# repeat the example's dozens of requests.
UNUSABLE_HYPOTHESIS = settings(
    HYPOTHESIS, max_examples=max(1, round(2 * FUZZ_SCALE)), phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def _assert_refused_naming(response, name: str, char: str) -> None:
    assert response.status_code == 400, (name, char, response.status_code)
    assert f"<strong>{unusable.shown(name)}</strong> contains {unusable.code_point(char)}" in response.content.decode()


@pytest.mark.parametrize("route", console_routes())
def test_an_unusable_character_in_any_query_parameter_or_form_field_is_a_400_naming_it(world, route):
    """Each example puts a drawn unusable character, between drawn usable text, into every query
    parameter and form field of the page in turn (the others left out), and into a name."""
    urls = world.urls(route)
    names = sorted({name for url in urls for name in form_field_names(world.client, url)})
    before_all = db_snapshot()

    @UNUSABLE_HYPOTHESIS
    @given(url=st.sampled_from(urls), data=st.data())
    def run(url, data):
        for method, name in [*[("get", name) for name in sorted({*names, *QUERY_NAMES})],
                             *[("post", name) for name in names], ("post", "")]:
            char = data.draw(unusable_chars, label="char")
            usable = _usable_text if name else _usable_name
            text = data.draw(usable, label="before") + char + data.draw(usable, label="after")
            if name:
                response = getattr(world.client, method)(url, {name: text})
                _assert_refused_naming(response, name, char)
            else:  # the character in a field's name
                response = world.client.post(url, {text: "1"})
                _assert_refused_naming(response, text, char)
        assert db_snapshot() == before_all

    run()


PATH_JUNK = ["9" * 30, "a%00b", "%F0%9F%98%80", "%ff%fe", "x" * 3000, "..%2F..%2Fetc", "%01", "a%7F", "%C2%85", "%EF%BF%BE", "%ED%A0%80"]


def _routes_with_parameters() -> list[str]:
    # The tracking links too: public pages whose only input is the path.
    tracking = [route for route in _walk(get_resolver().url_patterns) if route.startswith("t/")]
    return [route for route in console_routes() + tracking if _CONVERTER.search(route)]


@pytest.mark.parametrize("route", _routes_with_parameters())
def test_junk_in_the_path_is_a_404_not_a_500(world, route):
    for junk in PATH_JUNK:
        url = "/" + _CONVERTER.sub(lambda m, junk=junk: junk, route)
        for method in (world.client.get, world.client.post):
            before = db_snapshot()
            response = method(url)
            assert response.status_code < 500, url
            if "<str:" in route and not route.startswith("t/") and unusable.first(unquote(junk)) >= 0:
                assert response.status_code == 400, url  # the console's refusal, not a 404 by chance
            assert db_snapshot() == before, url


@HYPOTHESIS
@given(data=submissions(["username", "password", "next"]))
def test_the_sign_in_form_refuses_junk_and_signs_nobody_in(client, owner, data):
    with transaction.atomic():
        before = db_snapshot()
        response = client.post("/login/", data)
        assert response.status_code in (200, 400, 403, 429)
        assert "_auth_user_id" not in client.session
        counts = db_snapshot()["counts"]
        # Only a session row may appear (the failed attempt's messages); nothing else is written.
        assert {t: n for t, n in counts.items() if t != "accounts_session"} == {
            t: n for t, n in before["counts"].items() if t != "accounts_session"
        }
        transaction.set_rollback(True)
