"""Fairness between accounts (sending/lanes.py): an account's messages beyond its fair share wait on
the backlog queue, so they never stand in front of another account's next message.

What is asserted is what reaches the broker (the edge of the machine): the queue each hand-out goes
to. That workers take DELIVERY and DELIVERY_BACKLOG in turns is the broker's; the real-worker test
is tests/resilience/test_fairness.py.
"""

import datetime as dt

import pytest
from django.utils import timezone

from core import queues
from domains.models import SenderDomain
from domains.services import create_domain
from sending import services, tasks
from sending.models import Message
from sending.sweeper import sweep_stale_messages
from sending.tests.send_fixtures import SENDER, sender, template  # noqa: F401  (fixtures)

BOB_SENDER = "news@mail.bob.example"


@pytest.fixture
def handed(monkeypatch):
    """(queue, ids) of every deliver task handed to the broker."""
    handed = []
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, queue, **options: handed.append((queue, args[0])))
    return handed


@pytest.fixture
def bob(other_account):
    domain = create_domain(other_account, "mail.bob.example")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED, level=5)
    services.create_sender_address(other_account, BOB_SENDER, "Bob News")
    return other_account, services.create_template(other_account, name="Bob", subject="Hi {{name}}", text="Hello {{name}}")


def send(account, approved, sender_address, count, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.send_email(
            account, from_address=sender_address, destinations=[f"r{n}@example.org" for n in range(count)],
            template_id=approved.pk, template_data={"name": "Ann", "code": "1"},
        )


def test_an_accounts_messages_go_to_the_delivery_queue_up_to_its_fair_share_and_beyond_it_to_the_backlog(
    settings, account, sender, template, handed, django_capture_on_commit_callbacks  # noqa: F811
):
    settings.SES_DELIVERY_FAIR_SHARE = 5

    send(account, template, SENDER, 3, django_capture_on_commit_callbacks)
    send(account, template, SENDER, 2, django_capture_on_commit_callbacks)  # 5 queued: exactly its share
    send(account, template, SENDER, 1, django_capture_on_commit_callbacks)  # 6 queued: one beyond

    assert [queue for queue, _ids in handed] == [queues.DELIVERY, queues.DELIVERY, queues.DELIVERY_BACKLOG]


def test_one_accounts_backlog_leaves_another_accounts_next_send_on_the_delivery_queue(
    settings, account, sender, template, bob, handed, django_capture_on_commit_callbacks  # noqa: F811
):
    settings.SES_DELIVERY_FAIR_SHARE = 5
    bob_account, bob_template = bob
    for _ in range(3):
        send(bob_account, bob_template, BOB_SENDER, 4, django_capture_on_commit_callbacks)

    send(account, template, SENDER, 1, django_capture_on_commit_callbacks)

    assert [queue for queue, _ids in handed] == [
        queues.DELIVERY, queues.DELIVERY_BACKLOG, queues.DELIVERY_BACKLOG, queues.DELIVERY
    ]


def test_messages_that_left_the_queue_no_longer_count_against_the_share(
    settings, account, sender, template, handed, django_capture_on_commit_callbacks  # noqa: F811
):
    settings.SES_DELIVERY_FAIR_SHARE = 5
    send(account, template, SENDER, 5, django_capture_on_commit_callbacks)
    Message.objects.filter(account=account).update(status=Message.DELIVERED)  # the workers caught up

    send(account, template, SENDER, 5, django_capture_on_commit_callbacks)

    assert [queue for queue, _ids in handed] == [queues.DELIVERY, queues.DELIVERY]


def test_the_sweeper_hands_what_the_broker_lost_to_the_backlog_queue(
    account, sender, template, handed, django_capture_on_commit_callbacks  # noqa: F811
):
    send(account, template, SENDER, 2, django_capture_on_commit_callbacks)
    lost = list(Message.objects.filter(account=account).values_list("pk", flat=True))
    Message.objects.filter(pk__in=lost).update(created_at=timezone.now() - dt.timedelta(hours=1))
    handed.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stale_messages().startswith("re-enqueued 2")

    assert handed == [(queues.DELIVERY_BACKLOG, sorted(lost))]
