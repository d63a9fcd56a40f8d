"""Security: CSRF on every form and every URL, a Content-Security-Policy on every page.

Both walk the URL conf (test_security_tenants.walk) rather than a list of pages, so a page added
later is covered: an object id is filled with one of the signed-in member's own objects, a token
with a real token of their own message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import resolve, reverse

from sending import tracking
from sending.models import Message
from tests.resilience.test_security_tenants import Route, _model_for, make_attacker, own_objects, walk

pytestmark = pytest.mark.django_db

# URL names that take a POST without a CSRF token, on purpose, each with its reason. Any other URL
# that does is a hole (test_every_url_refuses_a_post_without_the_csrf_token).
CSRF_EXEMPT = {
    "api": "the signed API (TC3-HMAC-SHA256): machines, no session cookie to ride on",
    "inbound-report": "the MTA's raw DSN/ARF reports: a bearer token, no session",
    "inbound-events": "the MTA's webhook: an HMAC signature, no session",
    "track-unsubscribe": "RFC 8058 one-click unsubscribe: mail clients POST with no page or cookie",
}
# Admin patterns with parameters are Django's own views (csrf_protect on every admin view); their
# named, parameterless pages (index, login, each changelist) are walked like any other.
ADMIN = "admin/"


@dataclass
class Form:
    page: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class FormParser(HTMLParser):
    """The <form method=post> of a page, each with the values it would submit."""

    def __init__(self, page: str):
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._current = Form(self.page, a.get("action") or self.page)
                self.forms.append(self._current)
            else:
                self._current = None
        elif self._current is None:
            return
        elif tag == "input" and a.get("name"):
            if a.get("type", "text").lower() in ("checkbox", "radio") and "checked" not in a:
                return
            self._current.fields.setdefault(a["name"], a.get("value", ""))
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
        elif tag == "option" and self._select:
            self._current.fields.setdefault(self._select, a.get("value", ""))
        elif tag == "textarea" and a.get("name"):
            self._current.fields.setdefault(a["name"], "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None


def forms_of(page: str, html: str) -> list[Form]:
    parser = FormParser(page)
    parser.feed(html)
    return parser.forms


# --- Every URL of the URL conf, filled with the member's own objects ----------------------------


def _fill(route: Route, own: dict, message: Message) -> str | None:
    if not route.params:
        return reverse(route.name)
    if route.route.startswith(ADMIN):
        return None
    if route.name.startswith("track-"):
        kind = {"track-open": tracking.OPEN, "track-click": tracking.CLICK, "track-unsubscribe": tracking.UNSUBSCRIBE}
        extra = "https://www.example.com/offer" if route.name == "track-click" else ""
        return reverse(route.name, kwargs={"token": tracking.make_token(kind[route.name], message.message_id, extra)})
    model = _model_for(route)
    assert model is not None, f"{route.route}: test_security_tenants maps no object to it"
    obj = own[model]
    return reverse(route.name, kwargs={p: getattr(obj, "pk" if p == "pk" else p) for p in route.params})


def every_url(own: dict) -> list[tuple[Route, str]]:
    message = own[Message]
    urls = []
    for route in walk():
        if not route.name:  # admin's unnamed catch-alls and redirects
            assert route.route.startswith(ADMIN), f"{route.route} has no name: give it one"
            continue
        url = _fill(route, own, message)
        if url is not None:
            urls.append((route, url))
    return urls


@pytest.fixture
def attacker(owner, verified_domain) -> dict:
    """The signed-in member: an owner with a verified domain, a sender, a template and a list."""
    return make_attacker(owner)


@pytest.fixture
def own(attacker):
    """The member's own objects, one of every kind (and a disabled API key: its page shows 'enable')."""
    objects = own_objects(attacker)
    from accounts.models import ApiKey

    disabled, _ = ApiKey.issue(attacker["account"])
    disabled.enabled = False
    disabled.save(update_fields=["enabled"])
    return objects


def _signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


# --- CSRF ---------------------------------------------------------------------------------------


def crawl_forms(client: Client, urls: list[str]) -> list[Form]:
    forms = []
    for url in urls:
        response = client.get(url)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            forms += forms_of(url, response.content.decode())
    return forms


def _form_urls(attacker, own) -> tuple[list[Form], list[Form]]:
    """(signed-in forms, anonymous forms) of every GET-able page."""
    urls = [url for _, url in every_url(own)]
    member = crawl_forms(_signed_in(attacker["user"]), urls)
    anonymous = crawl_forms(Client(), urls + ["/admin/login/"])
    return member, anonymous


def test_every_post_form_is_refused_without_its_csrf_token(attacker, own):
    member_forms, anonymous_forms = _form_urls(attacker, own)
    actions = {urlsplit(f.action).path for f in member_forms + anonymous_forms}
    # The crawl reaches the forms that matter (a floor, so a broken crawl cannot pass by finding nothing).
    for expected in ("/login/", "/logout/", "/api-keys/new/", "/domains/", "/addresses/", "/templates/new/",
                     "/admin/login/"):
        assert expected in actions, f"no form posts to {expected}; found {sorted(actions)}"
    assert len(actions) >= 20, sorted(actions)

    problems = []
    for forms, make in ((member_forms, lambda: _signed_in(attacker["user"], enforce_csrf_checks=True)),
                        (anonymous_forms, lambda: Client(enforce_csrf_checks=True))):
        client = make()
        for form in forms:
            path = urlsplit(form.action).path
            if resolve(path).url_name in CSRF_EXEMPT:
                continue
            data = {k: v for k, v in form.fields.items() if k != "csrfmiddlewaretoken"}
            assert "csrfmiddlewaretoken" in form.fields, f"the form on {form.page} posting to {path} has no token"
            response = client.post(path, data)
            if response.status_code != 403:
                problems.append(f"form on {form.page} → POST {path} without the token: {response.status_code}")
    assert not problems, "\n".join(problems)


def test_the_same_forms_are_accepted_with_their_token(attacker, own):
    """The control: the 403 above is the CSRF check, not something else refusing the post. Each page
    is fetched by the posting client itself, so its forms carry the token of that client's cookie."""
    client = _signed_in(attacker["user"], enforce_csrf_checks=True)
    problems, posted, logout = [], 0, None
    for _, url in every_url(own):
        response = client.get(url)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        for form in forms_of(url, response.content.decode()):
            path = urlsplit(form.action).path
            if path == reverse("logout"):
                logout = form
                continue
            if client.post(path, form.fields).status_code == 403:
                problems.append(f"form on {form.page} → POST {path} with its token: 403")
            posted += 1
    assert logout is not None and client.post(reverse("logout"), logout.fields).status_code != 403
    assert not problems, "\n".join(problems)
    assert posted >= 20


def test_every_url_refuses_a_post_without_the_csrf_token(attacker, own):
    """Not only the forms a page shows today: every URL in the URL conf, signed in and not."""
    problems, exempt_seen = [], set()
    for client in (_signed_in(attacker["user"], enforce_csrf_checks=True), Client(enforce_csrf_checks=True)):
        for route, url in every_url(own):
            response = client.post(url, {"anything": "1"})
            if route.name in CSRF_EXEMPT:
                exempt_seen.add(route.name)
                continue
            if response.status_code != 403:
                problems.append(f"POST {url} ({route.name}) without a token: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert exempt_seen == set(CSRF_EXEMPT), "an allow-listed URL no longer exists: drop it from CSRF_EXEMPT"


def test_the_exempt_urls_are_exempt_for_their_reason(client, attacker, own):
    """Each allow-listed URL is exempt because something else guards it, and that guard holds."""
    forged = tracking.make_token(tracking.UNSUBSCRIBE, own[Message].message_id)[:-2] + "xx"
    assert client.post(f"/t/u/{forged}", {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.post("/", b"{}", content_type="application/json").json()["Response"]["Error"]["Code"].startswith(
        "AuthFailure"
    )
    assert client.post("/inbound/report", b"x", content_type="message/rfc822").status_code in (401, 403, 404)
    assert client.post("/inbound/events", b"{}", content_type="application/json").status_code in (401, 403, 404)


# --- Content-Security-Policy --------------------------------------------------------------------


def parse_csp(header: str) -> dict[str, list[str]]:
    policy = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            policy[words[0].lower()] = [w.lower() for w in words[1:]]
    return policy


def csp_problem(url: str, response) -> str | None:
    header = response.get("Content-Security-Policy")
    if not header:
        return f"{url} ({response.status_code}): no Content-Security-Policy"
    policy = parse_csp(header)
    if any("'unsafe-eval'" in sources for sources in policy.values()):
        return f"{url}: 'unsafe-eval' in {header}"
    scripts = policy.get("script-src", policy.get("default-src"))
    if scripts is None:
        return f"{url}: neither script-src nor default-src in {header}"
    if scripts not in (["'self'"], ["'none'"]):
        return f"{url}: scripts from {scripts}, not only 'self'"
    if "object-src" in policy and policy["object-src"] not in (["'none'"], ["'self'"]):
        return f"{url}: object-src {policy['object-src']}"
    return None


def test_every_page_has_a_strict_content_security_policy(attacker, own, staff_user):
    staff = Client()
    staff.force_login(staff_user)
    clients = {"member": _signed_in(attacker["user"]), "anonymous": Client(), "staff": staff}
    problems, checked = [], 0
    urls = every_url(own)
    for who, client in clients.items():
        # Every GET first: a POST may delete the object a later page shows (or sign out: not posted).
        for method, route, url in [("get", r, u) for r, u in urls] + [("post", r, u) for r, u in urls]:
            if method == "post" and route.name == "logout":
                continue
            response = getattr(client, method)(url)
            if response.streaming:
                b"".join(response.streaming_content)
            problem = csp_problem(url, response)
            if problem:
                problems.append(f"{who} {method.upper()} {problem}")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 150


def test_the_csp_check_would_catch_a_weak_policy():
    class Fake(dict):
        status_code = 200

    assert csp_problem("/x", Fake()) is not None
    assert csp_problem("/x", Fake({"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-eval'"}))
    assert csp_problem("/x", Fake({"Content-Security-Policy": "default-src 'self'; script-src 'self' https://cdn.example"}))
    assert csp_problem("/x", Fake({"Content-Security-Policy": "default-src *"}))
    assert csp_problem("/x", Fake({"Content-Security-Policy": "default-src 'self'; script-src 'self'"})) is None


# --- Found by the walk: deleting what a batch task was sent with --------------------------------


def test_deleting_what_a_batch_task_used_is_refused_with_a_message_and_deletes_nothing(attacker, own):
    """The address, template and domain of a batch task stay as its record: a clear refusal, not a 500."""
    from domains.models import SenderDomain
    from sending.models import SenderAddress, Template

    client = _signed_in(attacker["user"])
    for url, model, obj in (
        (reverse("address-delete", kwargs={"pk": own[SenderAddress].pk}), SenderAddress, own[SenderAddress]),
        (reverse("template-delete", kwargs={"pk": own[Template].pk}), Template, own[Template]),
        (reverse("domains:delete", kwargs={"pk": own[SenderDomain].pk}), SenderDomain, own[SenderDomain]),
    ):
        response = client.post(url, follow=True)
        assert response.status_code == 200, url
        assert "stays as their record" in response.content.decode(), url
        assert model.objects.filter(pk=obj.pk).exists(), url
