"""Fairness between accounts' callbacks: an account whose receiver is slow or down (many callbacks
pending) sends its next ones from the callbacks backlog queue, so it never stands in front of another
account's callbacks (notify.services.callback_queue_for; core/queues.py)."""

import pytest

from core import queues
from notify import services, tasks
from notify.models import CallbackDelivery
from sending.tests.inbound_fixtures import make_message


@pytest.fixture
def handed(monkeypatch):
    """The queue of every callback task handed to the broker (the edge of the machine)."""
    handed = []
    monkeypatch.setattr(tasks.deliver_callback, "apply_async", lambda args, queue, **options: handed.append(queue))
    return handed


@pytest.fixture
def bob(other_account, receiver):
    from domains.models import SenderDomain
    from domains.services import create_domain

    domain = create_domain(other_account, "mail.bob.example")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED)
    services.save_endpoint(other_account, receiver.url)
    domain.refresh_from_db()
    return domain


def test_an_account_past_its_share_of_pending_callbacks_sends_the_next_from_the_backlog_queue(
    settings, account, receiver, verified_domain, bob, handed, django_capture_on_commit_callbacks
):
    settings.SES_CALLBACK_FAIR_SHARE = 2
    services.save_endpoint(account, receiver.url)
    for n in range(3):  # pending: 1, 2 (its share), 3
        with django_capture_on_commit_callbacks(execute=True):
            services.queue_callback(make_message(bob, f"r{n}@example.org", delivered=False), "opened", {})
    with django_capture_on_commit_callbacks(execute=True):
        services.queue_callback(make_message(verified_domain, "ann@example.org", delivered=False), "opened", {})

    assert handed == [queues.CALLBACKS, queues.CALLBACKS, queues.CALLBACKS_BACKLOG, queues.CALLBACKS]


def test_callbacks_that_were_posted_no_longer_count_against_the_share(
    settings, receiver, bob, handed, django_capture_on_commit_callbacks
):
    settings.SES_CALLBACK_FAIR_SHARE = 2
    for n in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            services.queue_callback(make_message(bob, f"r{n}@example.org", delivered=False), "opened", {})
    CallbackDelivery.objects.update(status=CallbackDelivery.DELIVERED)  # the receiver caught up

    with django_capture_on_commit_callbacks(execute=True):
        services.queue_callback(make_message(bob, "r9@example.org", delivered=False), "opened", {})

    assert handed == [queues.CALLBACKS, queues.CALLBACKS, queues.CALLBACKS]
