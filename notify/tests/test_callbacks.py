"""Event callbacks (SPEC §6.1): signed JSON POSTs to the account's URL, retried with backoff for a day."""

import datetime as dt
import hashlib
import hmac
import json

import pytest
import time_machine
from django.utils import timezone

from notify import services
from notify.models import CallbackDelivery, CallbackEndpoint
from sending.recording import record_event
from sending.tests.inbound_fixtures import make_message


def verify(secret: str, request: dict) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"]["X-SES-Signature"], expected)


@pytest.fixture
def endpoint(account, receiver):
    endpoint, secret = services.save_endpoint(account, receiver.url)
    assert secret
    return endpoint


def test_a_delivered_message_is_posted_signed_to_the_callback_url(
    endpoint, receiver, verified_domain, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = make_message(verified_domain, "reader@example.org")

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hooks/ses"
    assert verify(endpoint.secret, request)
    assert request["headers"]["X-SES-Timestamp"].isdigit()
    assert request["headers"]["Content-Type"].startswith("application/json")
    payload = json.loads(request["body"])
    assert payload["event"] == "delivered"
    assert payload["messageId"] == message.message_id
    assert payload["email"] == "reader@example.org"
    assert payload["reason"] == "250 2.0.0 Ok: queued"
    assert payload["time"][:10] == timezone.localdate().isoformat()
    delivery = CallbackDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (CallbackDelivery.DELIVERED, 1, 200)


def test_each_kind_of_event_has_its_callback_name(endpoint, receiver, verified_domain, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = make_message(verified_domain, "reader@example.org")
        record_event(message, "opened", {})
        record_event(message, "clicked", {"url": "https://shop.example.com/"})
        record_event(message, "complaint", {"source": "arf"})
        record_event(message, "unsubscribed", {})
        record_event(message, "invalid", {"reply": "550 5.1.1 user unknown", "code": 550})
        soft = make_message(verified_domain, "full@example.org", delivered=False)
        record_event(soft, "deferred", {"reply": "452 4.2.2 mailbox full", "code": 452})
        record_event(soft, "bounced", {"reply": "452 4.2.2 mailbox full", "code": 452})
        dropped = make_message(verified_domain, "late@example.org", delivered=False)
        record_event(dropped, "dropped", {"reason": "account frozen"})

    payloads = [json.loads(r["body"]) for r in receiver.requests]
    assert [p["event"] for p in payloads] == [
        "delivered", "open", "click", "spamreport", "unsubscribe", "bounce", "deferred", "bounce", "dropped",
    ]
    assert payloads[2]["link"] == "https://shop.example.com/"
    assert (payloads[5]["bounceType"], payloads[7]["bounceType"]) == ("hard", "soft")
    assert payloads[8]["reason"] == "account frozen"


def test_no_endpoint_or_a_disabled_one_means_no_callback(account, receiver, verified_domain, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_message(verified_domain, "a@example.org")
    services.save_endpoint(account, receiver.url, enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        make_message(verified_domain, "b@example.org")

    assert CallbackDelivery.objects.count() == 0
    assert receiver.requests == []


def test_another_accounts_events_never_reach_this_endpoint(endpoint, receiver, other_account, django_capture_on_commit_callbacks):
    from domains.models import SenderDomain
    from domains.services import create_domain

    theirs = create_domain(other_account, "mail.charlie.example")
    theirs.status = SenderDomain.VERIFIED
    theirs.save(update_fields=["status"])
    with django_capture_on_commit_callbacks(execute=True):
        make_message(theirs, "x@example.org")

    assert receiver.requests == []


def test_a_failing_receiver_gets_retries_with_growing_delays(
    account, failing_receiver, verified_domain, django_capture_on_commit_callbacks
):
    services.save_endpoint(account, failing_receiver.url)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            make_message(verified_domain, "reader@example.org")
        delivery = CallbackDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
        assert delivery.next_attempt_at == start + dt.timedelta(minutes=1)

        assert services.retry_due_callbacks() == "no callback due"  # not due yet
        clock.shift(dt.timedelta(minutes=1))
        services.retry_due_callbacks()
        delivery.refresh_from_db()
        assert delivery.attempts == 2
        assert delivery.next_attempt_at == start + dt.timedelta(minutes=1 + 2)

        # Keep failing: the delays double up to two hours, and after a day it gives up.
        while delivery.status == CallbackDelivery.PENDING:
            clock.move_to(delivery.next_attempt_at)
            services.retry_due_callbacks()
            delivery.refresh_from_db()
        assert delivery.status == CallbackDelivery.FAILED
        assert delivery.next_attempt_at is None
        assert delivery.last_attempt_at <= start + dt.timedelta(days=1)
        assert 15 <= delivery.attempts <= 25
    assert len(failing_receiver.requests) == delivery.attempts


def test_a_receiver_that_recovers_gets_the_callback_on_the_next_retry(
    account, failing_receiver, verified_domain, django_capture_on_commit_callbacks
):
    services.save_endpoint(account, failing_receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        make_message(verified_domain, "reader@example.org")
    failing_receiver.status = 204
    CallbackDelivery.objects.update(next_attempt_at=timezone.now())

    assert "1 delivered" in services.retry_due_callbacks()
    assert CallbackDelivery.objects.get().status == CallbackDelivery.DELIVERED


def test_the_retry_takes_accounts_in_turns_so_a_hung_receiver_does_not_hold_back_another_account(
    account, other_account, receiver, failing_receiver, verified_domain, monkeypatch
):
    from domains.models import SenderDomain
    from domains.services import create_domain

    bobs_domain = create_domain(other_account, "mail.bob.example")
    SenderDomain.objects.filter(pk=bobs_domain.pk).update(status=SenderDomain.VERIFIED)
    bobs_domain.refresh_from_db()
    services.save_endpoint(other_account, failing_receiver.url)  # Bob's receiver is down
    services.save_endpoint(account, receiver.url)
    for n in range(5):  # queued without a commit: no first attempt, every row is due
        services.queue_callback(make_message(bobs_domain, f"reader{n}@example.org", delivered=False), "opened", {})
    services.queue_callback(make_message(verified_domain, "reader@example.org", delivered=False), "opened", {})
    CallbackDelivery.objects.update(next_attempt_at=timezone.now() - dt.timedelta(minutes=1))
    CallbackDelivery.objects.filter(account=account).update(next_attempt_at=timezone.now())  # Alice's is the newest
    monkeypatch.setattr(services, "RETRY_BATCH", 2)  # a run that has room for two attempts

    services.retry_due_callbacks()

    assert CallbackDelivery.objects.get(account=account).status == CallbackDelivery.DELIVERED
    assert len(receiver.requests) == 1 and len(failing_receiver.requests) == 1


def test_an_unreachable_url_is_retried_too(account, verified_domain, django_capture_on_commit_callbacks):
    services.save_endpoint(account, "http://127.0.0.1:9/nothing-listens-here")
    with django_capture_on_commit_callbacks(execute=True):
        make_message(verified_domain, "reader@example.org")

    delivery = CallbackDelivery.objects.get()
    assert delivery.status == CallbackDelivery.PENDING
    assert delivery.last_status_code is None
    assert delivery.last_error


def test_a_delivery_held_by_another_worker_is_not_posted_twice(endpoint, receiver, verified_domain):
    message = make_message(verified_domain, "reader@example.org")
    delivery = services.queue_callback(message, "opened", {})  # no commit: its task is not sent

    assert services.attempt_delivery(delivery.pk) is not None
    assert services.attempt_delivery(delivery.pk) is None
    assert len(receiver.requests) == 1


def test_the_retry_job_hands_the_posts_to_the_callbacks_queue_and_posts_nothing_in_the_tick(
    endpoint, receiver, verified_domain, monkeypatch
):
    from notify import tasks
    from ops.periodic import job_named
    from sesconsole.celery import app

    message = make_message(verified_domain, "reader@example.org", delivered=False)
    services.queue_callback(message, "opened", {})  # no commit: the callback is due, its task not sent
    handed = []
    monkeypatch.setattr(tasks.retry_callbacks, "apply_async", lambda *args, **options: handed.append(args))

    assert job_named("retry_callbacks").run() == "handed to the callbacks queue"

    assert len(handed) == 1 and receiver.requests == []
    assert app.amqp.router.route({}, "notify.retry_callbacks")["queue"].name == "callbacks"
    assert CallbackDelivery.objects.get().status == CallbackDelivery.PENDING


@pytest.mark.parametrize("url", ["", "not a url", "ftp://example.com/x", "javascript:alert(1)"])
def test_a_bad_callback_url_is_refused_and_nothing_is_saved(account, url):
    with pytest.raises(services.NotifyError, match="http"):
        services.save_endpoint(account, url)

    assert CallbackEndpoint.objects.count() == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "http://[::1]/hook", "http://localhost/x"])
def test_a_callback_url_inside_the_platforms_network_is_refused(account, settings, url):
    from notify.models import CallbackEndpoint
    from notify.services import NotifyError, save_endpoint

    settings.SES_CALLBACK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(NotifyError, match="inside the platform's network"):
        save_endpoint(account, url)
    assert not CallbackEndpoint.objects.exists()
