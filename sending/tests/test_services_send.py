"""send_email as a service: the rows it writes, the quota it reserves, and that the two stay consistent."""

import pytest
from django.db import DatabaseError

from core.clock import platform_today
from domains.models import DomainDay
from sending import services, tasks
from sending.models import Message, MessageEvent
from sending.services import SendError, send_email
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER, set_sent, written

sender = send_fixtures.sender
template = send_fixtures.template

DATA = {"name": "Ann", "code": "4711"}


@pytest.fixture
def delivered_ids(monkeypatch):
    """What reached the broker (the edge of the machine): the ids handed to the workers."""
    handed = []
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, **options: handed.append(args[0]))
    return handed


def send(account, template, **overrides):
    kwargs = {"from_address": SENDER, "destinations": ["ann@example.org"], "template_id": template.pk,
              "template_data": DATA, **overrides}
    return send_email(account, **kwargs)


def test_it_writes_one_queued_message_per_recipient_and_enqueues_them_after_commit(
    account, sender, template, django_capture_on_commit_callbacks, delivered_ids
):
    with django_capture_on_commit_callbacks(execute=True):
        result = send(account, template, destinations=["ann@example.org", "Bob@Gmail.com"], cc=["cc@qq.com"],
                      bcc=["ann@example.org", "hidden@example.net"], reply_to="help@alice.example", unsubscribe=2)

    messages = list(Message.objects.order_by("id"))
    assert [(m.recipient, m.recipient_kind, m.mailbox_type) for m in messages] == [
        ("ann@example.org", "to", "example.org"), ("bob@gmail.com", "to", "gmail.com"),
        ("cc@qq.com", "cc", "qq.com"), ("hidden@example.net", "bcc", "example.net"),
    ]
    assert result.message_ids == [m.message_id for m in messages]
    assert all(m.request_id == result.request_id for m in messages)
    first = messages[0]
    assert (first.status, first.subject, first.template_data, first.send_day) == (
        Message.QUEUED, "Welcome, Ann", DATA, platform_today()
    )
    assert (first.from_email, first.from_name, first.reply_to, first.unsubscribe) == (
        SENDER, "Alice News", "help@alice.example", 2
    )
    assert list(MessageEvent.objects.values_list("message_id", "kind")) == [(m.pk, "queued") for m in messages]
    assert delivered_ids == [[m.pk for m in messages]]
    assert DomainDay.objects.get(domain=sender.domain).sent == 4


def test_the_display_name_in_from_overrides_the_stored_one(account, sender, template):
    send(account, template, from_address="Alice Support <News@Mail.Alice.Example>")
    message = Message.objects.get()
    assert (message.from_name, message.from_email) == ("Alice Support", SENDER)


def test_a_subject_given_at_send_time_replaces_the_templates_and_is_rendered(account, sender, template):
    send(account, template, subject="Your code, {{name}}")
    assert Message.objects.get().subject == "Your code, Ann"


def test_a_failed_insert_rolls_the_quota_reservation_back(account, sender, template, monkeypatch):
    set_sent(sender.domain, 10)

    def broken_insert(*args, **kwargs):  # the database refusing the write, e.g. a lost connection
        raise DatabaseError("connection lost")

    monkeypatch.setattr(MessageEvent.objects, "bulk_create", broken_insert)
    with pytest.raises(DatabaseError):
        send(account, template, destinations=["a@example.org", "b@example.org"])

    assert Message.objects.count() == 0
    assert DomainDay.objects.get(domain=sender.domain).sent == 10


def test_a_refused_reservation_writes_nothing(account, sender, template):
    set_sent(sender.domain, 499)
    before = written(sender.domain)

    with pytest.raises(SendError) as excinfo:
        send(account, template, destinations=["a@example.org", "b@example.org"])

    assert excinfo.value.code == "FailedOperation.ExceedSendLimit"
    assert excinfo.value.message.startswith("mail.alice.example has sent 499 of its 500 messages today")
    assert written(sender.domain) == before


def test_at_the_cap_an_upgrade_frees_room_and_the_send_goes_through(account, sender, template):
    set_sent(sender.domain, 500, delivered=500)

    send(account, template)

    sender.domain.refresh_from_db()
    assert sender.domain.level == 2
    assert DomainDay.objects.get(domain=sender.domain).sent == 501


def test_an_address_too_long_for_the_columns_is_refused(account, sender, template):
    long_address = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com"
    with pytest.raises(SendError) as excinfo:
        send(account, template, destinations=[long_address])
    assert excinfo.value.code == "InvalidParameterValue.ReceiverEmailInvalid"


def test_platform_placeholders_need_no_template_data(account, sender, template):
    assert services.platform_placeholder("unsubscribe_url")
    send(account, template)  # the template uses {{unsubscribe_url}}; DATA does not give it
    assert Message.objects.count() == 1
