"""Sender addresses, templates and the blacklist through signed requests: wire shapes and tenant scoping."""

import base64
import datetime as dt

import pytest
from django.utils import timezone

from api.tests.signing import error_code
from domains.models import SenderDomain
from domains.services import create_domain
from sending import services
from sending.models import SenderAddress, Suppression, Template


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


UNSUB = '<a href="{{unsubscribe_url}}">Unsubscribe</a>'


# --- addresses -------------------------------------------------------------------------------------


def test_an_address_is_created_listed_and_deleted(api, verified_domain):
    created = api("CreateEmailAddress", {"EmailAddress": "news@mail.alice.example", "EmailSenderName": "Alice News"})
    assert "Error" not in created, created

    listed = api("ListEmailAddress")
    [sender] = listed["EmailSenders"]
    assert (sender["EmailAddress"], sender["EmailSenderName"], sender["SmtpPwdType"]) == (
        "news@mail.alice.example", "Alice News", 0
    )
    assert abs(sender["CreatedTimestamp"] - timezone.now().timestamp()) < 60

    assert "Error" not in api("DeleteEmailAddress", {"EmailAddress": "news@mail.alice.example"})
    assert api("ListEmailAddress")["EmailSenders"] == []


@pytest.mark.parametrize(
    "request_params, code",
    [
        ({"EmailAddress": "news@unknown.example"}, "InvalidParameterValue.NotExistDomain"),
        ({"EmailAddress": "news@"}, "InvalidParameterValue.IllegalEmailAddress"),
        ({"EmailAddress": "news@mail.alice.example", "EmailSenderName": "a:b"}, "InvalidParameterValue.IllegalSenderName"),
        ({}, "MissingParameter"),
        ({"EmailAddress": 7}, "InvalidParameter"),
    ],
)
def test_bad_addresses_are_refused_and_nothing_is_written(api, verified_domain, request_params, code):
    assert error_code(api("CreateEmailAddress", request_params)) == code
    assert SenderAddress.objects.count() == 0


def test_another_tenant_sees_and_deletes_none_of_our_addresses(api, other_api, verified_domain):
    api("CreateEmailAddress", {"EmailAddress": "news@mail.alice.example"})

    assert other_api("ListEmailAddress")["EmailSenders"] == []
    data = other_api("DeleteEmailAddress", {"EmailAddress": "news@mail.alice.example"})

    assert error_code(data) == "InvalidParameterValue.NoSuchSender"
    assert SenderAddress.objects.count() == 1


def test_an_address_on_another_tenants_domain_reads_as_no_such_domain(other_api, verified_domain):
    data = other_api("CreateEmailAddress", {"EmailAddress": "news@mail.alice.example"})
    assert error_code(data) == "InvalidParameterValue.NotExistDomain"
    assert SenderAddress.objects.count() == 0


# --- templates -------------------------------------------------------------------------------------


def test_a_template_round_trips_its_base64_content(api):
    html = f"<p>Grüße, {{{{name}}}}</p>{UNSUB}"
    created = api("CreateEmailTemplate", {"TemplateName": "Welcome", "TemplateContent": {"Html": b64(html), "Text": b64("Hi {{name}}")}})
    assert "Error" not in created, created

    got = api("GetEmailTemplate", {"TemplateID": created["TemplateID"]})

    assert got["TemplateName"] == "Welcome"
    assert got["TemplateStatus"] == 0
    assert base64.b64decode(got["TemplateContent"]["Html"]).decode() == html
    assert base64.b64decode(got["TemplateContent"]["Text"]).decode() == "Hi {{name}}"


def test_the_list_shows_status_and_review_reason(api):
    api("CreateEmailTemplate", {"TemplateName": "Good", "TemplateContent": {"Html": b64(f"Hello {UNSUB}")}})
    api("CreateEmailTemplate", {"TemplateName": "Bad", "TemplateContent": {"Text": b64(f"加微信 abc123 {UNSUB}")}})

    listed = api("ListEmailTemplates", {"Limit": 10, "Offset": 0})

    assert listed["TotalCount"] == 2
    by_name = {t["TemplateName"]: t for t in listed["TemplatesMetadata"]}
    assert (by_name["Good"]["TemplateStatus"], by_name["Good"]["ReviewReason"]) == (0, "")
    assert by_name["Bad"]["TemplateStatus"] == 2
    assert "[wechat]" in by_name["Bad"]["ReviewReason"]
    assert set(by_name["Bad"]) == {"CreatedTimestamp", "TemplateName", "TemplateStatus", "TemplateID", "ReviewReason"}


def test_an_update_is_reviewed_again(api):
    template_id = api("CreateEmailTemplate", {"TemplateName": "T", "TemplateContent": {"Text": b64(f"Hi {UNSUB}")}})["TemplateID"]

    data = api("UpdateEmailTemplate", {"TemplateID": template_id, "TemplateName": "T2",
                                       "TemplateContent": {"Text": b64(f"QQ: 12345678 {UNSUB}")}})

    assert "Error" not in data, data
    got = api("GetEmailTemplate", {"TemplateID": template_id})
    assert (got["TemplateName"], got["TemplateStatus"]) == ("T2", 2)


@pytest.mark.parametrize(
    "request_params, code",
    [
        ({"TemplateName": "T", "TemplateContent": {"Html": "not base64!"}}, "InvalidParameterValue.TemplateContentIsWrong"),
        ({"TemplateName": "T", "TemplateContent": {"Html": base64.b64encode(b"\xff\xfe").decode()}},
         "InvalidParameterValue.TemplateContentIsWrong"),
        ({"TemplateName": "T", "TemplateContent": {"Text": b64("Hi {{ na me }}")}}, "InvalidParameterValue.TemplateContentIsWrong"),
        ({"TemplateName": "T", "TemplateContent": {}}, "InvalidParameterValue.TemplateContentIsNULL"),
        ({"TemplateName": "T"}, "MissingParameter"),
        ({"TemplateName": "x" * 101, "TemplateContent": {"Text": b64("Hi")}}, "InvalidParameterValue.TemplateNameIllegal"),
        ({"TemplateContent": {"Text": b64("Hi")}}, "MissingParameter"),
    ],
)
def test_malformed_templates_are_refused_and_nothing_is_written(api, request_params, code):
    assert error_code(api("CreateEmailTemplate", request_params)) == code
    assert Template.objects.count() == 0


def test_another_tenants_template_is_not_found_for_every_action(api, other_account):
    theirs = services.create_template(other_account, name="Theirs", subject="S", text="Secret plan", transactional=True)

    for action, extra in [("GetEmailTemplate", {}), ("DeleteEmailTemplate", {}),
                          ("UpdateEmailTemplate", {"TemplateName": "Mine now"})]:
        data = api(action, {"TemplateID": theirs.pk, **extra})
        assert error_code(data) == "InvalidParameterValue.TemplateNotExist", action
        assert "Secret" not in str(data)
    assert api("ListEmailTemplates")["TotalCount"] == 0
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_a_template_is_deleted(api):
    template_id = api("CreateEmailTemplate", {"TemplateName": "T", "TemplateContent": {"Text": b64("Hi")}})["TemplateID"]
    assert "Error" not in api("DeleteEmailTemplate", {"TemplateID": template_id})
    assert Template.objects.count() == 0


# --- blacklist -------------------------------------------------------------------------------------


@pytest.fixture
def blacklist(account, other_account):
    now = timezone.now()
    rows = [
        Suppression.objects.create(account=account, email="gone@example.org", reason=Suppression.BLACKLIST,
                                   detail="550 5.1.1 no such user", created_at=now - dt.timedelta(days=3)),
        Suppression.objects.create(account=account, email="old@example.org", reason=Suppression.BLACKLIST, created_at=now),
        Suppression.objects.create(account=account, email="bye@example.org", reason=Suppression.UNSUBSCRIBED),
        Suppression.objects.create(account=other_account, email="theirs@example.org", reason=Suppression.BLACKLIST),
    ]
    return rows


def test_the_blacklist_lists_the_accounts_invalid_addresses_only(api, blacklist):
    data = api("ListBlackEmailAddress", {"Limit": 10, "Offset": 0})

    assert data["TotalCount"] == 2
    assert [e["EmailAddress"] for e in data["BlackList"]] == ["old@example.org", "gone@example.org"]
    gone = data["BlackList"][1]
    assert gone["IspDesc"] == "550 5.1.1 no such user"
    assert gone["BounceTime"] == timezone.localtime(blacklist[0].created_at).strftime("%Y-%m-%d %H:%M:%S")


def test_the_blacklist_filters_by_date_and_address(api, blacklist):
    today = timezone.localdate()
    recent = api("ListBlackEmailAddress", {"StartDate": today.isoformat(), "EndDate": today.isoformat()})
    assert [e["EmailAddress"] for e in recent["BlackList"]] == ["old@example.org"]

    one = api("ListBlackEmailAddress", {"EmailAddress": "GONE@example.org", "TaskID": "ignored"})
    assert [e["EmailAddress"] for e in one["BlackList"]] == ["gone@example.org"]


@pytest.mark.parametrize(
    "request_params, code",
    [({"StartDate": "2024-13-01"}, "InvalidParameterValue.WrongDate"),
     ({"StartDate": "2024-02-02", "EndDate": "2024-02-01"}, "InvalidParameterValue.WrongDate"),
     ({"Limit": 101}, "FailedOperation.InvalidLimit")],
)
def test_bad_blacklist_queries_are_refused(api, request_params, code):
    assert error_code(api("ListBlackEmailAddress", request_params)) == code


def test_delete_black_list_removes_only_the_callers_entries(api, account, other_account, blacklist):
    data = api("DeleteBlackList", {"EmailAddressList": ["Gone@example.org", "theirs@example.org", "bye@example.org"]})

    assert "Error" not in data, data
    assert set(Suppression.objects.values_list("account_id", "email", "reason")) == {
        (account.pk, "old@example.org", Suppression.BLACKLIST),
        (account.pk, "bye@example.org", Suppression.UNSUBSCRIBED),
        (other_account.pk, "theirs@example.org", Suppression.BLACKLIST),
    }


def test_delete_black_list_needs_at_least_one_address(api, blacklist):
    assert error_code(api("DeleteBlackList", {"EmailAddressList": []})) == "MissingParameter"
    assert Suppression.objects.count() == 4


def test_unverified_domains_are_not_offered(api, account):
    create_domain(account, "pending.alice.example")
    data = api("CreateEmailAddress", {"EmailAddress": "a@pending.alice.example"})
    assert error_code(data) == "OperationDenied.DomainNotVerified"
    assert SenderDomain.objects.get().status == SenderDomain.PENDING
