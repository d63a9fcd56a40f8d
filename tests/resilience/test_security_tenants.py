"""Security: one tenant never reaches another's objects, through the console or the API.

The console side walks the URL conf (django.urls.get_resolver) instead of listing pages, so a page
added later is covered without touching this file: every pattern that takes an object id is filled
with the victim's object, and the attacker (signed in to another account) must get 404, by GET and
by POST. A pattern this file cannot map to an object fails the test, and so does an API action it
has no case for. Whatever the attacker tries, the victim's rows stay exactly as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.db import models as db_models
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import Account, ApiKey
from api.registry import ACTIONS
from api.tests.signing import call, error_code
from batches import services as batch_services
from batches.models import BatchTask, ReceiverList
from batches.tests.batch_fixtures import make_list
from domains.models import SenderDomain
from domains.services import create_domain
from notify.models import CallbackDelivery, Notification
from sending import services as send_services
from sending.models import Message, MessageEvent, SenderAddress, Suppression, Template
from sending.tests.send_fixtures import WELCOME_HTML, WELCOME_TEXT, set_sent

pytestmark = pytest.mark.django_db

# --- The victim: another account with one object of every kind ----------------------------------

VICTIM_DOMAIN = "victim-zq.example"
VICTIM_SENDER = f"news@{VICTIM_DOMAIN}"
VICTIM_TEMPLATE = "Victim template zq"
VICTIM_LIST = "Victim list zq"
VICTIM_RECIPIENT = "victim-recipient-zq@inbox.example"
VICTIM_BLACKLISTED = "victim-bounced-zq@inbox.example"
VICTIM_HOOK = "https://hooks.victim-zq.example/ses"
VICTIM_NOTICE = "Victim notice zq"
ATTACKER_SENDER = "news@mail.alice.example"


@dataclass
class Victim:
    account: Account
    api_key: ApiKey
    secret_key: str
    domain: SenderDomain
    address: SenderAddress
    template: Template
    receiver_list: ReceiverList
    task: BatchTask
    message: Message
    delivery: CallbackDelivery
    markers: list[str] = field(default_factory=list)

    def by_model(self, model: type) -> object:
        for value in vars(self).values():
            if isinstance(value, model):
                return value
        raise LookupError(model)


@pytest.fixture
def victim(other_account, outsider) -> Victim:
    account = other_account
    api_key, secret_key = ApiKey.issue(account)
    domain = create_domain(account, VICTIM_DOMAIN)
    domain.status = SenderDomain.VERIFIED
    domain.save(update_fields=["status"])
    set_sent(domain, 40, delivered=38, opened=12)
    address = send_services.create_sender_address(account, VICTIM_SENDER, "Victim News")
    template = send_services.create_template(
        account, name=VICTIM_TEMPLATE, subject="Hi {{name}}", html=WELCOME_HTML, text=WELCOME_TEXT
    )
    assert template.status == Template.APPROVED, template.review_reason
    receiver_list = make_list(account, 0, name=VICTIM_LIST, emails=[VICTIM_RECIPIENT, "second-zq@inbox.example"])
    task = batch_services.create_task(
        account, from_address=VICTIM_SENDER, receiver_list_id=receiver_list.pk, template_id=template.pk
    )
    message = Message.objects.create(
        account=account, domain=domain, request_id="victim-req", from_email=VICTIM_SENDER,
        recipient=VICTIM_RECIPIENT, mailbox_type="inbox.example", subject="Victim subject zq",
        send_day=timezone.localdate(), status=Message.DELIVERED, outcome="delivered",
    )
    MessageEvent.objects.create(message=message, kind="delivered", detail={"smtp": "250 ok"})
    Suppression.objects.create(account=account, email=VICTIM_BLACKLISTED, reason=Suppression.BLACKLIST)
    delivery = CallbackDelivery.objects.create(
        account=account, event="delivered", message_id=message.message_id, url=VICTIM_HOOK,
        payload={"MessageId": message.message_id},
    )
    Notification.objects.create(
        account=account, cause=Notification.CAP_WARNING, cause_key=f"cap_warning:{domain.pk}",
        day=timezone.localdate(), subject=VICTIM_NOTICE, text="Victim text zq",
    )
    markers = [
        VICTIM_DOMAIN, VICTIM_TEMPLATE, VICTIM_LIST, VICTIM_RECIPIENT, VICTIM_BLACKLISTED, VICTIM_HOOK,
        VICTIM_NOTICE, "Victim subject zq", "Victim News", api_key.secret_id, message.message_id,
    ]
    return Victim(account, api_key, secret_key, domain, address, template, receiver_list, task, message, delivery, markers)


@pytest.fixture
def attacker(owner, verified_domain):
    return make_attacker(owner)


def make_attacker(owner) -> dict:
    """The owner of the other account (with a verified domain), with a sender, a template and a list."""
    send_services.create_sender_address(owner.membership.account, ATTACKER_SENDER, "Alice")
    template = send_services.create_template(
        owner.membership.account, name="Alice template", subject="Hi {{name}}", html=WELCOME_HTML, text=WELCOME_TEXT
    )
    own_list = make_list(owner.membership.account, 2, name="Alice list")
    return {"user": owner, "account": owner.membership.account, "template": template, "list": own_list}


def _account_path(model: type[db_models.Model]) -> str | None:
    """The lookup from `model` to its Account ("account", "domain__account"…), None for global tables."""
    names = {f.name: f for f in model._meta.get_fields() if f.is_relation and (f.many_to_one or f.one_to_one)}
    if "account" in names and names["account"].related_model is Account:
        return "account"
    for name, relation in names.items():
        related = relation.related_model
        if related is None or not getattr(relation, "concrete", False):
            continue
        if any(f.name == "account" for f in related._meta.get_fields() if f.is_relation):
            return f"{name}__account"
    return None


PROJECT_APPS = ("accounts", "domains", "sending", "batches", "notify", "stats", "api", "ops")
VOLATILE = {"last_used_at"}  # the attacker's own key is stamped when used; nothing else may change


def snapshot(account: Account) -> dict:
    """Every row of every project model that belongs to `account` (directly or through one relation)."""
    state = {}
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        path = _account_path(model)
        if model is Account:
            rows = model.objects.filter(pk=account.pk)
        elif path is None:
            continue
        else:
            rows = model.objects.filter(**{path: account})
        state[model._meta.label] = [
            {k: v for k, v in row.items() if k not in VOLATILE} for row in rows.order_by("pk").values()
        ]
    return state


def test_the_snapshot_sees_the_victims_objects(victim):
    state = snapshot(victim.account)
    for label in ("domains.SenderDomain", "sending.SenderAddress", "sending.Template", "batches.ReceiverList",
                  "batches.Receiver", "batches.BatchTask", "sending.Message", "sending.MessageEvent",
                  "sending.Suppression", "notify.CallbackDelivery", "notify.Notification", "accounts.ApiKey"):
        assert state[label], f"the victim has no {label} row: the snapshot would prove nothing"


# --- The console: every URL pattern that takes an object --------------------------------------

# The object kind of each console URL, by (namespace-qualified) URL name prefix. A new page whose
# name fits a rule is covered at once; one that fits none fails test_every_console_url_*.
OBJECT_RULES: list[tuple[str, type]] = [
    ("api-key", ApiKey),
    ("domains:", SenderDomain),
    ("address", SenderAddress),
    ("template", Template),
    ("list", ReceiverList),
    ("batch", BatchTask),
    ("log-message", Message),
    ("notify:callback", CallbackDelivery),
]

# Patterns with parameters that are not a tenant's object, by route prefix, each with its reason.
PUBLIC_ROUTES = {
    "admin/": "Django admin: staff only (is_staff), not a tenant's console; members are sent to its login",
    "t/": "open, click and unsubscribe links: a signed token is the authority "
          "(test_security_tokens.py proves forgery and enumeration fail)",
}


@dataclass(frozen=True)
class Route:
    name: str  # namespace-qualified, as reverse() takes it
    route: str
    params: tuple[str, ...]


def walk(patterns=None, namespace: str = "", prefix: str = "", params: tuple[str, ...] = ()) -> list[Route]:
    """Every URL pattern of the URL conf, recursively, with its parameters."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    found = []
    for entry in patterns:
        own = tuple(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += walk(entry.url_patterns, ns, prefix + str(entry.pattern), params + own)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            found.append(Route(name, prefix + str(entry.pattern), params + own))
    return found


def _allow_listed(route: Route) -> str | None:
    return next((why for start, why in PUBLIC_ROUTES.items() if route.route.startswith(start)), None)


def _model_for(route: Route) -> type | None:
    return next((model for start, model in OBJECT_RULES if route.name.startswith(start)), None)


def object_routes() -> list[tuple[Route, type | None]]:
    return [(r, _model_for(r)) for r in walk() if r.params and not _allow_listed(r)]


def _kwargs(route: Route, obj) -> dict:
    return {param: getattr(obj, "pk" if param == "pk" else param) for param in route.params}


def test_the_walk_finds_the_known_object_pages():
    names = {route.name for route, _ in object_routes()}
    # A sanity floor: the walk must reach nested includes and namespaces.
    assert {"api-key-delete", "domains:detail", "template-edit", "list-detail", "batch-detail",
            "log-message", "notify:callback-detail"} <= names


def test_every_console_url_with_an_object_maps_to_an_object_kind():
    unmapped = [f"{r.route} (name {r.name or 'none'!r}, params {r.params})" for r, model in object_routes() if model is None]
    assert not unmapped, (
        "These URL patterns take an id this test cannot fill: add an OBJECT_RULES entry (or, for a public "
        f"endpoint, a reasoned PUBLIC_ROUTES entry): {unmapped}"
    )
    for route, model in object_routes():
        missing = [p for p in route.params if p != "pk" and not hasattr(model, p)]
        assert not missing, f"{route.name}: {model.__name__} has no attribute for {missing}"


def own_objects(attacker: dict) -> dict:
    """One object of every kind of the attacker's own: to tell "no such method" from "not yours"."""
    account = attacker["account"]
    domain = SenderDomain.objects.get(account=account)
    return {
        ApiKey: ApiKey.issue(account)[0],
        SenderDomain: domain,
        SenderAddress: SenderAddress.objects.get(account=account),
        Template: attacker["template"],
        ReceiverList: attacker["list"],
        BatchTask: batch_services.create_task(
            account, from_address=ATTACKER_SENDER, receiver_list_id=attacker["list"].pk,
            template_id=attacker["template"].pk,
        ),
        Message: Message.objects.create(
            account=account, domain=domain, request_id="own", from_email=ATTACKER_SENDER,
            recipient="a@inbox.example", mailbox_type="inbox.example", subject="Own", send_day=timezone.localdate(),
        ),
        CallbackDelivery: CallbackDelivery.objects.create(
            account=account, event="delivered", message_id="own", url="https://hooks.alice.example/", payload={},
        ),
    }


def _body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode(errors="replace")


def console_problems(client, victim: Victim, own: dict) -> tuple[list[str], list[str]]:
    """(problems, names checked): every object URL with the victim's object, by GET and by POST."""
    checked, problems = [], []
    client.raise_request_exception = False  # a crash is one more problem to list, not the end of the walk
    for route, model in object_routes():
        assert model is not None, route  # test_every_console_url_with_an_object_maps_to_an_object_kind
        url = reverse(route.name, kwargs=_kwargs(route, victim.by_model(model)))
        own_url = reverse(route.name, kwargs=_kwargs(route, own[model]))
        answered_404 = False
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            body = _body(response)
            if response.status_code == 404:
                answered_404 = True
            elif response.status_code == 405:
                # The view does not take this method at all: its own object gets 405 as well.
                if getattr(client, method)(own_url).status_code != 405:
                    problems.append(f"{method.upper()} {url}: 405 for the victim's object, not for one's own")
            else:
                problems.append(f"{method.upper()} {url}: {response.status_code} instead of 404")
            leaked = [m for m in victim.markers if m in body]
            if leaked:
                problems.append(f"{method.upper()} {url} shows the victim's {leaked}")
        if not answered_404:
            problems.append(f"{url}: neither GET nor POST answered 404")
        checked.append(route.name)
    return problems, checked


def test_every_console_url_with_another_tenants_object_answers_404(client, victim, attacker):
    client.force_login(attacker["user"])
    own = own_objects(attacker)
    before = snapshot(victim.account)
    problems, checked = console_problems(client, victim, own)
    assert not problems, "\n".join(problems)
    assert len(checked) >= 20, checked
    assert snapshot(victim.account) == before


def test_console_pages_without_an_object_show_nothing_of_another_tenant(client, victim, attacker):
    """Lists, dashboards, statistics, suggestions: scoped to the caller's account."""
    client.force_login(attacker["user"])
    before = snapshot(victim.account)
    problems = []
    for route in walk():
        if route.params or not route.name or _allow_listed(route) or route.name in ("logout", "api"):
            continue
        url = reverse(route.name)
        for query in ({}, {"q": "victim"}, {"domain": VICTIM_DOMAIN}, {"message_id": victim.message.message_id},
                      {"recipient": VICTIM_RECIPIENT}):
            response = client.get(url, query)
            if response.status_code not in (200, 302, 400, 405):
                problems.append(f"GET {url} {query}: {response.status_code}")
            body = _body(response)
            leaked = [m for m in victim.markers if m in body and m not in json.dumps(query)]
            if leaked:
                problems.append(f"GET {url} {query} shows the victim's {leaked}")
    assert not problems, "\n".join(problems)
    assert snapshot(victim.account) == before


# --- The API: every action of the registry ----------------------------------------------------


@dataclass(frozen=True)
class Case:
    params: dict
    # The error code the action documents for "not yours / does not exist"; None when the action
    # succeeds and `check` proves it saw nothing of the victim.
    code: str | None = None
    check: object = None


def _no_rows(key: str):
    def check(response: dict) -> None:
        assert response[key] == [], response[key]
    return check


def _none_of(key: str, attribute: str, theirs: set):
    def check(response: dict) -> None:
        found = {item[attribute] for item in response[key]}
        assert not found & theirs, f"{key} lists the victim's {found & theirs}"
    return check


def _zero_volumes(response: dict) -> None:
    overall = response["OverallVolume"]
    assert all(v == 0 for k, v in overall.items() if k != "SendDate"), overall


def _total_zero(key: str):
    def check(response: dict) -> None:
        assert response["TotalCount"] == 0 and response[key] == [], response
    return check


def api_cases(v: Victim, a: dict) -> dict[str, list[Case]]:
    today = timezone.localdate().isoformat()
    t_id, l_id = v.template.pk, v.receiver_list.pk
    own_template = {"TemplateID": a["template"].pk, "TemplateData": json.dumps({"name": "A", "code": "1"})}
    return {
        # Sender addresses
        "CreateEmailAddress": [Case({"EmailAddress": f"hijack@{VICTIM_DOMAIN}"}, "InvalidParameterValue.NotExistDomain")],
        "ListEmailAddress": [Case({}, check=_none_of("EmailSenders", "EmailAddress", {VICTIM_SENDER}))],
        "DeleteEmailAddress": [Case({"EmailAddress": VICTIM_SENDER}, "InvalidParameterValue.NoSuchSender")],
        # Domains
        "CreateEmailIdentity": [Case({"EmailIdentity": VICTIM_DOMAIN}, "InvalidParameterValue.CreatedByOther")],
        "GetEmailIdentity": [Case({"EmailIdentity": VICTIM_DOMAIN}, "ResourceNotFound")],
        "UpdateEmailIdentity": [Case({"EmailIdentity": VICTIM_DOMAIN}, "ResourceNotFound")],
        "DeleteEmailIdentity": [Case({"EmailIdentity": VICTIM_DOMAIN}, "ResourceNotFound")],
        "ListEmailIdentities": [Case({}, check=_none_of("EmailIdentities", "IdentityName", {VICTIM_DOMAIN}))],
        # Templates
        "CreateEmailTemplate": [Case(  # a name the victim uses is free for everybody else
            {"TemplateName": VICTIM_TEMPLATE, "TemplateContent": {"Text": "SGVsbG8="}}, check=lambda r: None
        )],
        "GetEmailTemplate": [Case({"TemplateID": t_id}, "InvalidParameterValue.TemplateNotExist")],
        "UpdateEmailTemplate": [Case(
            {"TemplateID": t_id, "TemplateName": "Stolen", "TemplateContent": {"Text": "SGk="}},
            "InvalidParameterValue.TemplateNotExist",
        )],
        "DeleteEmailTemplate": [Case({"TemplateID": t_id}, "InvalidParameterValue.TemplateNotExist")],
        "ListEmailTemplates": [Case({}, check=_none_of("TemplatesMetadata", "TemplateID", {t_id}))],
        # Sending
        "SendEmail": [
            Case({"FromEmailAddress": VICTIM_SENDER, "Destination": ["x@inbox.example"], "Template": own_template,
                  "Subject": "Hi"}, "InvalidParameterValue.NoSuchSender"),
            Case({"FromEmailAddress": ATTACKER_SENDER, "Destination": ["x@inbox.example"],
                  "Template": {"TemplateID": t_id, "TemplateData": json.dumps({"name": "A", "code": "1"})},
                  "Subject": "Hi"}, "InvalidParameterValue.TemplateNotExist"),
        ],
        "GetSendEmailStatus": [
            Case({"RequestDate": today, "MessageId": v.message.message_id}, check=_no_rows("EmailStatusList")),
            Case({"RequestDate": today, "ToEmailAddress": VICTIM_RECIPIENT}, check=_no_rows("EmailStatusList")),
        ],
        # Batches and recipient lists
        "BatchSendEmail": [
            Case({"FromEmailAddress": ATTACKER_SENDER, "ReceiverId": l_id, "TaskType": 1,
                  "Template": {"TemplateID": a["template"].pk}}, "OperationDenied.ReceiverNotExist"),
            Case({"FromEmailAddress": ATTACKER_SENDER, "ReceiverId": a["list"].pk, "TaskType": 1,
                  "Template": {"TemplateID": t_id}}, "InvalidParameterValue.TemplateNotExist"),
            Case({"FromEmailAddress": VICTIM_SENDER, "ReceiverId": a["list"].pk, "TaskType": 1,
                  "Template": {"TemplateID": a["template"].pk}}, "InvalidParameterValue.NoSuchSender"),
        ],
        "ListSendTasks": [
            Case({"ReceiverId": l_id}, check=_total_zero("Data")),
            Case({}, check=_none_of("Data", "TaskId", {v.task.pk})),
        ],
        "CreateReceiver": [Case({"ReceiversName": VICTIM_LIST}, check=lambda r: None)],
        "CreateReceiverDetail": [Case({"ReceiverId": l_id, "Emails": ["x@inbox.example"]}, "OperationDenied.ReceiverNotExist")],
        "CreateReceiverDetailWithData": [Case(
            {"ReceiverId": l_id, "Datas": [{"Email": "x@inbox.example", "TemplateData": "{}"}]},
            "OperationDenied.ReceiverNotExist",
        )],
        "ListReceivers": [Case({"Limit": 100}, check=_none_of("Data", "ReceiverId", {l_id}))],
        "ListReceiverDetails": [Case({"ReceiverId": l_id}, "OperationDenied.ReceiverNotExist")],
        "DeleteReceiver": [Case({"ReceiverId": l_id}, "OperationDenied.ReceiverNotExist")],
        # Blacklist
        "ListBlackEmailAddress": [Case({"EmailAddress": VICTIM_BLACKLISTED}, check=_total_zero("BlackList"))],
        "DeleteBlackList": [Case({"EmailAddressList": [VICTIM_BLACKLISTED]}, check=lambda r: None)],
        # Statistics
        "GetStatisticsReport": [
            Case({"StartDate": today, "EndDate": today, "Domain": VICTIM_DOMAIN}, check=_zero_volumes),
            Case({"StartDate": today, "EndDate": today}, check=_zero_volumes),
        ],
    }


def test_every_api_action_has_a_cross_tenant_case(victim, attacker):
    missing = sorted(set(ACTIONS) - set(api_cases(victim, attacker)))
    assert not missing, f"API actions without a cross-tenant case here: {missing}"
    stale = sorted(set(api_cases(victim, attacker)) - set(ACTIONS))
    assert not stale, f"cases for actions that no longer exist: {stale}"


def api_problems(client, victim: Victim, attacker: dict) -> list[str]:
    key, secret = ApiKey.issue(attacker["account"])
    problems = []
    said = ""  # what the attacker has sent so far: a name they chose themselves is no leak
    cases = api_cases(victim, attacker)
    for name in sorted(ACTIONS):
        for case in cases.get(name, []):
            said += json.dumps(case.params, ensure_ascii=False)
            response = call(client, key.secret_id, secret, name, case.params)
            got = error_code(response)
            label = f"{name} {case.params}"
            if case.code is not None and got != case.code:
                problems.append(f"{label}: {got or 'success'} instead of {case.code} ({response})")
            if case.code is None:
                if got is not None:
                    problems.append(f"{label}: {got} ({response['Error']['Message']})")
                else:
                    try:
                        case.check(response)
                    except AssertionError as exc:
                        problems.append(f"{label}: {exc}")
            text = json.dumps(response, ensure_ascii=False)
            leaked = [m for m in victim.markers if m in text and m not in said]
            if leaked:
                problems.append(f"{label} answers the victim's {leaked}")
    return problems


def test_every_api_action_with_another_tenants_ids_finds_nothing_and_changes_nothing(client, victim, attacker):
    before = snapshot(victim.account)
    problems = api_problems(client, victim, attacker)
    assert not problems, "\n".join(problems)
    assert snapshot(victim.account) == before
    # The victim's own key still finds it all.
    response = call(client, victim.api_key.secret_id, victim.secret_key, "GetEmailIdentity", {"EmailIdentity": VICTIM_DOMAIN})
    assert error_code(response) is None


# --- The harness itself: a hole would be caught -------------------------------------------------


def test_the_api_walk_catches_an_action_that_ignores_the_account(client, victim, attacker, monkeypatch):
    from api.actions import templates as template_actions

    def unscoped(account, template_id, code="InvalidParameterValue.TemplateNotExist"):
        return Template.objects.get(pk=template_id)

    monkeypatch.setattr(template_actions.services, "template_for_account", unscoped)
    problems = api_problems(client, victim, attacker)
    assert any(p.startswith("GetEmailTemplate") and VICTIM_TEMPLATE in p for p in problems), problems


def test_the_console_walk_catches_a_view_that_ignores_the_account(client, victim, attacker, monkeypatch):
    from django.shortcuts import get_object_or_404

    from sending import views as sending_views

    monkeypatch.setattr(sending_views, "_get_template_for_account", lambda request, pk: get_object_or_404(Template, pk=pk))
    client.force_login(attacker["user"])
    problems, _ = console_problems(client, victim, own_objects(attacker))
    assert any("/templates/" in p and "200 instead of 404" in p for p in problems), problems


def test_an_unmapped_object_url_is_reported(monkeypatch):
    monkeypatch.setattr(
        "tests.resilience.test_security_tenants.walk",
        lambda: [Route("gadgets-detail", "gadgets/<int:pk>/", ("pk",))],
    )
    assert [model for _, model in object_routes()] == [None]
