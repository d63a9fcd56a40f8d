"""The callback endpoint is read once per delivery group, and a new endpoint counts from the next group.

A worker delivers a group of messages (one deliver task) and applies their outcomes together; the
callback receiver looks the account's endpoint up once for the group instead of once a message.
These tests run with real commits (transaction=True), as a worker does: the callbacks are queued
when the group's outcomes commit.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notify import services
from notify.models import CallbackDelivery
from sending.delivery import deliver_messages
from sending.recording import event_group, group_memo
from sending.tests.send_fixtures import sender, template  # noqa: F401  (fixtures)
from sending.tests.test_delivery_smtp import send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _held_back(monkeypatch):
    # The sends' deliver tasks are held back: each test hands its groups to deliver_messages itself.
    monkeypatch.setattr("sending.outbox.enqueue", lambda ids: None)


def endpoint_lookups(queries) -> int:
    """SELECTs of the account's enabled endpoint (the lookup that decides whether to queue a callback;
    posting a queued callback reads its endpoint again, on purpose, and is not counted)."""
    return sum(
        1 for q in queries
        if q["sql"].startswith('SELECT "notify_callbackendpoint"') and '"enabled"' in q["sql"].partition(" WHERE ")[2]
    )


def test_a_group_without_an_endpoint_looks_it_up_once(smtp_sink, sender, template, account, verified_domain):  # noqa: F811
    messages = send(account, template, *[f"r{i}@example.org" for i in range(6)])

    with CaptureQueriesContext(connection) as queries:
        report = deliver_messages([m.pk for m in messages])

    assert report.outcomes == {"delivered": 6}
    assert endpoint_lookups(queries.captured_queries) == 1
    assert CallbackDelivery.objects.count() == 0


def test_an_endpoint_saved_after_a_group_gets_the_next_groups_events(
    smtp_sink, sender, template, account, verified_domain, receiver  # noqa: F811
):
    first = send(account, template, "a@example.org", "b@example.org")
    deliver_messages([m.pk for m in first])
    assert CallbackDelivery.objects.count() == 0  # no endpoint yet: nothing to call back

    services.save_endpoint(account, receiver.url)
    second = send(account, template, "c@example.org", "d@example.org", "e@example.org")
    with CaptureQueriesContext(connection) as queries:
        deliver_messages([m.pk for m in second])

    assert endpoint_lookups(queries.captured_queries) == 1
    rows = CallbackDelivery.objects.order_by("id")
    assert [(r.event, r.message_id) for r in rows] == [("delivered", m.message_id) for m in second]
    posted = sorted(json.loads(r["body"])["email"] for r in receiver.requests)
    assert posted == ["c@example.org", "d@example.org", "e@example.org"]


def test_a_disabled_endpoint_stops_callbacks_from_the_next_group(
    smtp_sink, sender, template, account, verified_domain, receiver  # noqa: F811
):
    services.save_endpoint(account, receiver.url)
    deliver_messages([m.pk for m in send(account, template, "a@example.org")])
    assert CallbackDelivery.objects.count() == 1

    services.save_endpoint(account, receiver.url, enabled=False)
    deliver_messages([m.pk for m in send(account, template, "b@example.org", "c@example.org")])

    assert CallbackDelivery.objects.count() == 1


def test_the_memo_lives_for_one_group_only():
    assert group_memo() is None
    with event_group():
        memo = group_memo()
        memo["x"] = 1
        with event_group():  # nested: the same group
            assert group_memo() is memo
    assert group_memo() is None
    with event_group():
        assert group_memo() == {}
