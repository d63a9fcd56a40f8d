"""Staff admin for sending: the sensitive-word list, template verdicts (logged), read-only messages."""

import json

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from accounts.models import StaffActionLog
from sending import services
from sending.models import Message, MessageEvent, SenderAddress, SensitiveWord, Suppression, Template
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER

sender = send_fixtures.sender
template = send_fixtures.template


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def changelist(model) -> str:
    return reverse(f"admin:sending_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:sending_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def message(account, sender, template):
    services.send_email(account, from_address=SENDER, destinations=["ann@example.org"], template_id=template.pk,
                        template_data={"name": "Ann", "code": "1"})
    return Message.objects.get()


def test_every_sending_page_loads(staff_client, account, sender, template, message):
    Suppression.objects.create(account=account, email="gone@example.org", reason=Suppression.BLACKLIST)
    SensitiveWord.objects.create(word="casino")
    for model in (SenderAddress, SensitiveWord, Template, Suppression, Message, MessageEvent):
        assert staff_client.get(changelist(model)).status_code == 200, model
        assert staff_client.get(change(model.objects.first())).status_code == 200, model


def test_the_message_page_shows_its_event_timeline(staff_client, message):
    response = staff_client.get(change(message))
    assert b"queued" in response.content
    assert message.message_id.encode() in response.content


def test_messages_and_events_are_read_only(staff_client, message):
    staff_client.post(change(message), {"status": "delivered", "_save": "Save"})
    message.refresh_from_db()
    assert message.status == Message.QUEUED
    assert staff_client.get(reverse("admin:sending_message_add")).status_code == 403
    assert staff_client.get(reverse("admin:sending_messageevent_add")).status_code == 403


def test_staff_edit_the_sensitive_word_list_and_the_next_review_uses_it(staff_client, account):
    response = staff_client.post(reverse("admin:sending_sensitiveword_add"), {"word": "casino"})
    assert response.status_code == 302

    template = services.create_template(account, name="T", subject="Casino night", text="x", transactional=True)
    assert template.status == Template.REJECTED


def test_staff_approve_a_rejected_template_and_it_is_logged(staff_client, staff_user, account):
    template = services.create_template(account, name="T", subject="Hi", text="WeChat: abc_123", transactional=True)
    assert template.status == Template.REJECTED
    post = {"action": "approve_action", ACTION_CHECKBOX_NAME: [template.pk]}

    page = staff_client.post(changelist(Template), post)
    assert page.status_code == 200  # the note page
    done = staff_client.post(changelist(Template), {**post, "apply": "yes", "note": "their own support id"})

    assert done.status_code == 302
    template.refresh_from_db()
    assert template.status == Template.APPROVED
    log = StaffActionLog.objects.get()
    assert (log.actor, log.action, log.detail) == (staff_user, "template_approved", "their own support id")


def test_rejecting_asks_for_a_reason_and_stores_it(staff_client, account):
    template = services.create_template(account, name="T", subject="Hi", text="Hello", transactional=True)
    post = {"action": "reject_action", ACTION_CHECKBOX_NAME: [template.pk], "apply": "yes"}

    without_reason = staff_client.post(changelist(Template), {**post, "note": ""})
    assert without_reason.status_code == 200
    template.refresh_from_db()
    assert template.status == Template.APPROVED

    staff_client.post(changelist(Template), {**post, "note": "looks like phishing"})
    template.refresh_from_db()
    assert (template.status, template.review_reason) == (Template.REJECTED, "[staff] looks like phishing")


def test_a_customer_cannot_open_the_sending_admin(client, owner):
    client.force_login(owner)
    response = client.get(changelist(Template))
    assert response.status_code == 302
    assert json.dumps(response.url).count("login") == 1
