"""Addresses typed with a non-ASCII domain find what is stored as its IDNA A-label (the API).

SendEmail, the list import and the bounce handling store `ann@bücher.example` as
`ann@xn--bcher-kva.example`; DeleteBlackList, ListBlackEmailAddress's EmailAddress,
GetSendEmailStatus's ToEmailAddress and ListReceiverDetails's Email take either form.
"""

import json

import pytest

from batches.lists import importer
from batches.lists import services as list_services
from core.clock import platform_today
from sending.models import Message, Suppression
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER

sender = send_fixtures.sender
template = send_fixtures.template

pytestmark = pytest.mark.django_db

A_LABEL = "ann@xn--bcher-kva.example"


@pytest.fixture
def blacklist(account, other_account):
    return {
        "ours": Suppression.objects.create(account=account, email=A_LABEL, reason=Suppression.BLACKLIST),
        "plain": Suppression.objects.create(account=account, email="bob@example.org", reason=Suppression.BLACKLIST),
        "theirs": Suppression.objects.create(account=other_account, email=A_LABEL, reason=Suppression.BLACKLIST),
    }


@pytest.mark.parametrize("typed", ["ann@bücher.example", "ANN@BÜCHER.example", A_LABEL])
def test_delete_black_list_takes_a_unicode_domain(api, blacklist, typed):
    data = api("DeleteBlackList", {"EmailAddressList": [typed]})

    assert "Error" not in data, data
    assert not Suppression.objects.filter(pk=blacklist["ours"].pk).exists()
    assert set(Suppression.objects.values_list("pk", flat=True)) == {blacklist["plain"].pk, blacklist["theirs"].pk}


def test_delete_black_list_with_an_address_that_has_no_ascii_form_deletes_nothing(api, blacklist):
    data = api("DeleteBlackList", {"EmailAddressList": ["jörg@bücher.example", "x@☃.example"]})

    assert "Error" not in data, data
    assert Suppression.objects.count() == 3


def test_another_tenant_deleting_the_unicode_form_removes_only_its_own_entry(other_api, blacklist):
    assert "Error" not in other_api("DeleteBlackList", {"EmailAddressList": ["ann@bücher.example"]})
    assert set(Suppression.objects.values_list("pk", flat=True)) == {blacklist["ours"].pk, blacklist["plain"].pk}


@pytest.mark.parametrize("typed", ["ann@bücher.example", "Ann@Bücher.Example", A_LABEL])
def test_list_black_email_address_filters_by_a_unicode_domain(api, blacklist, typed):
    data = api("ListBlackEmailAddress", {"EmailAddress": typed})
    assert [e["EmailAddress"] for e in data["BlackList"]] == [A_LABEL]
    assert data["TotalCount"] == 1


def test_list_black_email_address_with_no_ascii_form_finds_nothing(api, blacklist):
    data = api("ListBlackEmailAddress", {"EmailAddress": "jörg@bücher.example"})
    assert (data["BlackList"], data["TotalCount"]) == ([], 0)


def test_get_send_email_status_finds_a_recipient_typed_with_its_unicode_domain(api, sender, template):
    data = api("SendEmail", {
        "FromEmailAddress": SENDER, "Destination": ["ann@bücher.example", "bob@example.org"],
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps({"name": "A", "code": "1"})},
    })
    assert "Error" not in data, data
    assert Message.objects.filter(recipient=A_LABEL).count() == 1

    today = platform_today().isoformat()
    for typed in ("ann@bücher.example", "ANN@BÜCHER.EXAMPLE", A_LABEL):
        found = api("GetSendEmailStatus", {"RequestDate": today, "ToEmailAddress": typed, "Offset": 0, "Limit": 10})
        assert [r["ToEmailAddress"] for r in found["EmailStatusList"]] == [A_LABEL], typed
    none = api("GetSendEmailStatus", {"RequestDate": today, "ToEmailAddress": "jörg@bücher.example"})
    assert none["EmailStatusList"] == []


def test_list_receiver_details_searches_a_unicode_domain(api, account):
    receiver_list = list_services.create_list(account, "IDN")
    importer.add_receivers(receiver_list, [("ann@bücher.example", {}), ("bob@example.org", {})])

    for typed in ("bücher", "ann@bücher.example", "@BÜCHER"):
        found = api("ListReceiverDetails", {"ReceiverId": receiver_list.pk, "Offset": 0, "Limit": 10, "Email": typed})
        assert [d["Email"] for d in found["Data"]] == [A_LABEL], typed
    none = api("ListReceiverDetails", {"ReceiverId": receiver_list.pk, "Offset": 0, "Limit": 10, "Email": "☃"})
    assert none["Data"] == []
