"""SendEmail through a signed request: every refusal has the SDK's code and writes nothing."""

import json

import pytest

from accounts.models import AccountFreeze
from api.tests.signing import error_code
from core.clock import platform_today
from domains.models import DomainDay, SenderDomain
from domains.services import create_domain
from sending import services
from sending.models import Message, MessageEvent, Suppression, Template
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER, set_sent, written

sender = send_fixtures.sender
template = send_fixtures.template

DATA = {"name": "Ann", "code": "4711"}


def params(template, **overrides) -> dict:
    base = {
        "FromEmailAddress": f"Alice News <{SENDER}>",
        "Destination": ["ann@example.org"],
        "Subject": "",
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps(DATA)},
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


@pytest.fixture
def charlies(other_account):
    """Another tenant with its own verified domain, sender address and approved template."""
    domain = create_domain(other_account, "mail.charlie.example")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED)
    address = services.create_sender_address(other_account, "ceo@mail.charlie.example")
    their_template = services.create_template(other_account, name="Theirs", subject="Hi", text="Hi", transactional=True)
    return address, their_template


def test_a_send_returns_the_message_id_and_the_message_is_queued(api, sender, template):
    data = api("SendEmail", params(template, Destination=["ann@example.org", "bob@example.org"]))

    assert "Error" not in data, data
    messages = Message.objects.order_by("id")
    assert data["MessageId"] == messages[0].message_id
    assert [(m.recipient, m.status, m.subject) for m in messages] == [
        ("ann@example.org", Message.QUEUED, "Welcome, Ann"), ("bob@example.org", Message.QUEUED, "Welcome, Ann"),
    ]
    assert MessageEvent.objects.filter(kind="queued").count() == 2
    assert DomainDay.objects.get(domain=sender.domain).sent == 2


def test_the_sdk_form_of_unsubscribe_is_a_string(api, sender, template):
    data = api("SendEmail", params(template, Unsubscribe="2", TriggerType=1))
    assert "Error" not in data, data
    assert Message.objects.get().unsubscribe == 2


def _freeze(account):
    AccountFreeze.objects.create(account=account, day=platform_today(), rule="F1")


def _blacklist(account):
    Suppression.objects.create(account=account, email="ann@example.org", reason=Suppression.BLACKLIST)


def _unsubscribed(account):
    Suppression.objects.create(account=account, email="ann@example.org", reason=Suppression.UNSUBSCRIBED)


def _unverify(account):
    SenderDomain.objects.filter(account=account).update(status=SenderDomain.FAILED)


def _reject_template(account):
    Template.objects.filter(account=account).update(status=Template.REJECTED)


def _hold_template(account):
    Template.objects.filter(account=account).update(status=Template.IN_REVIEW)


def _at_cap(account):
    set_sent(SenderDomain.objects.get(account=account), 500)


def _api_template(account):
    # Made through the API: no subject of its own, so SendEmail must give one.
    Template.objects.filter(account=account).update(subject="")


def _data(payload) -> dict:
    return {"TemplateData": payload}


ERRORS = [
    # (what, parameter changes or a function of the template, setup, expected code)
    ("unknown sender", {"FromEmailAddress": "nobody@mail.alice.example"}, None, "InvalidParameterValue.NoSuchSender"),
    ("from in bad form", {"FromEmailAddress": "Alice <news@mail.alice.example"}, None, "FailedOperation.IncorrectSender"),
    ("from not an address", {"FromEmailAddress": "news at alice"}, None, "FailedOperation.IncorrectSender"),
    ("colon in sender name", {"FromEmailAddress": f"Re: you <{SENDER}>"}, None, "InvalidParameterValue.IllegalSenderName"),
    ("sender domain no longer verified", {}, _unverify, "FailedOperation.NotAuthenticatedSender"),
    ("no such template", {"Template": {"TemplateID": 999999}}, None, "InvalidParameterValue.TemplateNotExist"),
    ("rejected template", {}, _reject_template, "OperationDenied.TemplateStatusError"),
    ("template in review", {}, _hold_template, "OperationDenied.TemplateStatusError"),
    ("template data not json", _data("{name: Ann"), None, "InvalidParameterValue.TemplateDataError"),
    ("template data an array", _data('["Ann"]'), None, "InvalidParameterValue.TemplateDataError"),
    ("html in template data", _data('{"name": "<b>Ann</b>", "code": "1"}'), None, "InvalidParameterValue.InValidTemplateData"),
    ("a number in template data", _data('{"name": "Ann", "code": 4711}'), None, "InvalidParameterValue.InValidTemplateData"),
    ("wechat id in template data", _data('{"name": "WeChat: abc_123", "code": "1"}'), None,
     "InvalidParameterValue.InValidTemplateData"),
    ("a variable missing", _data('{"name": "Ann"}'), None, "InvalidParameterValue.TemplateNotMatchData"),
    ("template data too long", _data(json.dumps({"name": "x" * 900, "code": "1"})), None,
     "InvalidParameterValue.TemplateDataLenLimit"),
    ("no subject anywhere", {}, _api_template, "InvalidParameterValue.SubjectLengthError"),
    ("a qq group in the subject", {"Subject": "QQ群 123456"}, None, "InvalidParameterValue"),
    ("bad recipient", {"Destination": ["ann@example.org", "bob@@example.org"]}, None,
     "InvalidParameterValue.ReceiverEmailInvalid"),
    ("bad cc", {"Cc": ["not-an-address"]}, None, "InvalidParameterValue.ReceiverEmailInvalid"),
    ("51 recipients", {"Destination": [f"r{n}@example.org" for n in range(51)]}, None, "FailedOperation.TooManyRecipients"),
    ("21 cc", {"Cc": [f"c{n}@example.org" for n in range(21)]}, None, "FailedOperation.TooManyRecipients"),
    ("21 bcc", {"Bcc": [f"b{n}@example.org" for n in range(21)]}, None, "FailedOperation.TooManyRecipients"),
    ("no recipients", {"Destination": []}, None, "MissingParameter"),
    ("no template", {"Template": None}, None, "MissingParameter"),
    ("simple content", {"Template": None, "Simple": {"Text": "aGk="}}, None, "FailedOperation.WithOutPermission"),
    ("attachments", {"Attachments": [{"FileName": "a.txt", "Content": "aGk="}]}, None,
     "FailedOperation.NoAttachPermission"),
    ("unsubscribe option out of range", {"Unsubscribe": "99"}, None, "InvalidParameterValue"),
    ("unsubscribe option not a number", {"Unsubscribe": "en"}, None, "InvalidParameter"),
    ("bad reply-to", {"ReplyToAddresses": "help"}, None, "InvalidParameterValue.IllegalEmailAddress"),
    ("frozen account", {}, _freeze, "FailedOperation.HighRejectionRate"),
    ("blacklisted recipient", {}, _blacklist, "FailedOperation.EmailAddrInBlacklist"),
    ("unsubscribed recipient", {}, _unsubscribed, "FailedOperation.ReceiverHasUnsubscribed"),
    ("domain at its cap", {}, _at_cap, "FailedOperation.ExceedSendLimit"),
]


@pytest.mark.parametrize("what, changes, setup, code", ERRORS, ids=[case[0] for case in ERRORS])
def test_every_refusal_has_its_code_and_writes_nothing(api, account, sender, template, what, changes, setup, code):
    if setup:
        setup(account)
    request = params(template)
    if "TemplateData" in changes:
        request["Template"] = {"TemplateID": template.pk, "TemplateData": changes["TemplateData"]}
    else:
        request = params(template, **changes)
    before = written(sender.domain)

    data = api("SendEmail", request)

    assert error_code(data) == code, data
    assert data["Error"]["Message"]
    assert written(sender.domain) == before


def test_a_missing_variable_is_named(api, sender, template):
    data = api("SendEmail", params(template, Template={"TemplateID": template.pk, "TemplateData": '{"name": "Ann"}'}))
    assert "code" in data["Error"]["Message"]


def test_exactly_at_the_cap_is_accepted_and_one_more_is_refused_with_nothing_counted(api, sender, template):
    set_sent(sender.domain, 499)

    accepted = api("SendEmail", params(template))
    assert "Error" not in accepted, accepted
    assert DomainDay.objects.get(domain=sender.domain).sent == 500
    before = written(sender.domain)

    refused = api("SendEmail", params(template, Destination=["late@example.org"]))

    assert error_code(refused) == "FailedOperation.ExceedSendLimit"
    assert refused["Error"]["Message"].startswith("mail.alice.example has sent 500 of its 500 messages today")
    assert written(sender.domain) == before
    row = DomainDay.objects.get(domain=sender.domain)
    assert (row.sent, row.requested) == (500, 500)


def test_a_call_that_does_not_fit_whole_sends_none(api, sender, template):
    set_sent(sender.domain, 499)
    before = written(sender.domain)

    data = api("SendEmail", params(template, Destination=["a@example.org", "b@example.org"]))

    assert error_code(data) == "FailedOperation.ExceedSendLimit"
    assert written(sender.domain) == before


def test_one_blacklisted_recipient_refuses_the_whole_call_and_names_it(api, account, sender, template):
    Suppression.objects.create(account=account, email="bob@example.org", reason=Suppression.BLACKLIST)

    data = api("SendEmail", params(template, Destination=["ann@example.org", "Bob@Example.org"]))

    assert error_code(data) == "FailedOperation.EmailAddrInBlacklist"
    assert "bob@example.org" in data["Error"]["Message"]
    assert Message.objects.count() == 0


def test_another_accounts_blacklist_does_not_apply(api, other_account, sender, template):
    Suppression.objects.create(account=other_account, email="ann@example.org", reason=Suppression.BLACKLIST)
    assert "Error" not in api("SendEmail", params(template))


def test_another_tenants_sender_address_is_no_such_sender(api, sender, template, charlies):
    before = written(sender.domain)

    data = api("SendEmail", params(template, FromEmailAddress="ceo@mail.charlie.example"))

    assert error_code(data) == "InvalidParameterValue.NoSuchSender"
    assert "charlie" not in json.dumps(data).replace("ceo@mail.charlie.example", "")
    assert written(sender.domain) == before


def test_another_tenants_template_does_not_exist(api, sender, template, charlies):
    _address, their_template = charlies
    before = written(sender.domain)

    data = api("SendEmail", params(template, Template={"TemplateID": their_template.pk, "TemplateData": "{}"}))

    assert error_code(data) == "InvalidParameterValue.TemplateNotExist"
    assert "Theirs" not in json.dumps(data)
    assert written(sender.domain) == before


def test_a_frozen_account_is_refused_on_every_domain(api, account, sender, template):
    second = create_domain(account, "news.alice.example")
    SenderDomain.objects.filter(pk=second.pk).update(status=SenderDomain.VERIFIED)
    services.create_sender_address(account, "hi@news.alice.example")
    _freeze(account)

    for address in (SENDER, "hi@news.alice.example"):
        data = api("SendEmail", params(template, FromEmailAddress=address))
        assert error_code(data) == "FailedOperation.HighRejectionRate"
    assert Message.objects.count() == 0


def test_a_lifted_freeze_lets_the_account_send_again(api, account, sender, template):
    from django.utils import timezone

    AccountFreeze.objects.create(account=account, day=platform_today(), rule="F1", lifted_at=timezone.now())
    assert "Error" not in api("SendEmail", params(template))
