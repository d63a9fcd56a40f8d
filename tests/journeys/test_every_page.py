"""Every console page, found by walking the URL conf, in a real browser: usable at 375 px, under the
CSP, and with no serious or critical axe-core violation. A new page is covered without touching
this file; a page with an id in its URL that this file cannot fill fails the test, so it gets one.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import ApiKey
from batches.tests.batch_fixtures import make_list, new_task
from notify import services as notify_services
from notify.models import CallbackDelivery
from sending import services as sending_services
from sending.models import Message
from stats.tests.traffic import volume

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "alice@example.com"
# Not console pages: the API and the machine endpoints answer JSON or plain text; Django admin has its
# own look (checked by the work-order journey); tracking links are opened from mail, with tokens.
SKIPPED_PREFIXES = ("admin/", "inbound/", "t/", "i18n/")
SKIPPED_NAMES = {"api", "logout", "login", "stats-csv", "list-progress", "template-preview"}


def console_patterns(resolver=None, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += console_patterns(entry, route)
        elif not route.startswith(SKIPPED_PREFIXES) and entry.name not in SKIPPED_NAMES and route:
            found.append((route, entry))
    return found


@pytest.fixture
def objects(account, verified_domain, worker, dns_stub):
    """One of everything a console URL can point at, in the signed-in account."""
    sender = sending_services.create_sender_address(account, "news@mail.alice.example", "Alice News")
    template = sending_services.create_template(
        account, name="Welcome", subject="Welcome",
        html='<p>Hello</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>', text="Hello",
    )
    key, _secret = ApiKey.issue(account)
    sim = settings.SES_SIMULATOR_DOMAIN
    sending_services.send_email(account, from_address=sender.email, destinations=[f"open@{sim}"],
                                template_id=template.pk, template_data={}, subject="Welcome")
    worker.work()
    message = Message.objects.get(account=account)
    dns_stub.set_addresses("hooks.example.com", "93.184.215.14")  # saving the URL looks its host up
    notify_services.save_endpoint(account, "https://hooks.example.com/ses")
    notify_services.queue_callback(message, "delivered")  # queued only: no worker posts it here
    receiver_list = make_list(account, 3)
    task = new_task(account, receiver_list, template)
    volume(account, verified_domain, "gmail.com", verified_domain.created_at.date(), requested=10, sent=10, delivered=9)
    delivery = CallbackDelivery.objects.get(account=account)
    return {
        "pk": {
            "api-key-disable": key.pk, "api-key-enable": key.pk, "api-key-delete": key.pk,
            "address-delete": sender.pk,
            "template-edit": template.pk, "template-send": template.pk, "template-delete": template.pk,
            "detail": verified_domain.pk, "check": verified_domain.pk, "work-order": verified_domain.pk,
            "delete": verified_domain.pk,
            "callback-detail": delivery.pk,
            "batch-detail": task.pk, "batch-cancel": task.pk,
            "list-detail": receiver_list.pk, "list-upload": receiver_list.pk, "list-delete": receiver_list.pk,
        },
        "message_id": {"log-message": message.message_id},
    }


def fill(route: str, pattern: URLPattern, objects: dict) -> str | None:
    path = route
    for name in pattern.pattern.converters:
        value = objects.get(name, {}).get(pattern.name)
        assert value is not None, f"{route} ({pattern.name}): no object for <{name}>; add one to the fixture"
        path = path.replace(f"<int:{name}>", str(value)).replace(f"<str:{name}>", str(value))
    return "/" + path


def test_every_console_page_is_accessible_and_fits_a_phone(journey, owner, objects):
    journey.sign_in(EMAIL)
    visited = []
    for route, pattern in console_patterns():
        path = fill(route, pattern, objects)
        probe = journey.page.request.get(journey.url(path), max_redirects=0)
        if probe.status == 405:  # a POST-only action: its form is on another page
            continue
        assert probe.status == 200, (path, probe.status)
        if "text/html" not in probe.headers.get("content-type", ""):
            continue
        if not probe.text().lstrip().lower().startswith("<!doctype html"):
            continue  # a fragment for htmx (a search's suggestions): checked inside its page
        journey.page.goto(journey.url(path))
        journey.name = "page-" + (pattern.name or route).replace("/", "-")
        journey.check("page")
        visited.append(path)
    assert len(visited) >= 20, visited
