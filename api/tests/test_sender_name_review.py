"""The From display name is reviewed like what a send carries (SPEC §4.1): a sender name with a
contact ID or a staff sensitive word is refused with IllegalSenderName and writes nothing, through
SendEmail, BatchSendEmail, CreateEmailAddress and the console's address form."""

import json

import pytest

from api.tests.signing import error_code
from batches.models import BatchTask
from batches.tests.batch_fixtures import SENDER, make_list
from sending.models import Message, SenderAddress, SensitiveWord
from sending.tests import send_fixtures

sender = send_fixtures.sender
template = send_fixtures.template

REFUSED = "InvalidParameterValue.IllegalSenderName"


@pytest.fixture
def gambling(db):
    return SensitiveWord.objects.create(word="gambling")


def send(api, template, from_address: str) -> dict:
    return api("SendEmail", {
        "FromEmailAddress": from_address,
        "Destination": ["ann@example.org"],
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps({"name": "Ann", "code": "4711"})},
    })


def batch(api, template, receiver_list, from_address: str) -> dict:
    return api("BatchSendEmail", {
        "FromEmailAddress": from_address, "ReceiverId": receiver_list.pk, "TaskType": 1,
        "Template": {"TemplateID": template.pk},
    })


@pytest.mark.parametrize("name", ["加微信 abc123 gambling", "Lucky gambling club", "WeChat：abc_123", "QQ 12345678"])
def test_send_email_refuses_a_sender_name_with_a_contact_id_or_a_sensitive_word(api, sender, template, gambling, name):
    data = send(api, template, f"{name} <{SENDER}>")

    assert error_code(data) == REFUSED, data
    assert "sender name" in data["Error"]["Message"]
    assert Message.objects.count() == 0


def test_send_email_with_a_plain_sender_name_mentioning_wechat_is_delivered_under_it(api, sender, template, gambling):
    data = send(api, template, f"WeChat Pay News <{SENDER}>")

    assert "Error" not in data, data
    assert Message.objects.get().from_name == "WeChat Pay News"


def test_a_stored_sender_name_that_breaks_a_rule_is_refused_when_a_send_uses_it(api, sender, template, gambling):
    SenderAddress.objects.filter(pk=sender.pk).update(display_name="gambling news")  # made before names were reviewed

    data = send(api, template, SENDER)

    assert error_code(data) == REFUSED, data
    assert Message.objects.count() == 0


def test_batch_send_email_refuses_a_sender_name_with_a_wechat_id(api, account, sender, template):
    customers = make_list(account, 2)

    data = batch(api, template, customers, f"WeChat：abc_123 <{SENDER}>")

    assert error_code(data) == REFUSED, data
    assert "sender name" in data["Error"]["Message"]
    assert BatchTask.objects.count() == 0


def test_batch_send_email_with_a_plain_sender_name_is_accepted(api, account, sender, template):
    data = batch(api, template, make_list(account, 2), f"Alice Weekly <{SENDER}>")

    assert "Error" not in data, data
    assert BatchTask.objects.get().from_name == "Alice Weekly"


def test_create_email_address_refuses_a_sender_name_with_a_sensitive_word(api, verified_domain, gambling):
    data = api("CreateEmailAddress", {"EmailAddress": "hello@mail.alice.example", "EmailSenderName": "加微信 abc123 gambling"})

    assert error_code(data) == REFUSED, data
    assert SenderAddress.objects.count() == 0
    assert "Error" not in api("CreateEmailAddress", {"EmailAddress": "hello@mail.alice.example", "EmailSenderName": "Alice"})


def test_the_console_refuses_to_add_an_address_whose_name_carries_a_wechat_id(client, member, verified_domain):
    client.force_login(member)

    response = client.post("/addresses/", {"local_part": "hello", "domain": verified_domain.pk, "display_name": "WeChat：abc_123"})

    assert response.status_code == 400
    assert "The sender name breaks a content rule" in response.content.decode()
    assert REFUSED in response.content.decode()
    assert SenderAddress.objects.count() == 0
