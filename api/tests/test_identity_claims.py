"""Email identities claimed by two accounts (issue 12, finding 6): CreatedByOther only for a domain another
account has verified; a pending foreign claim is invisible; the first verification wins."""

import pytest

from domains.models import SenderDomain
from notify.models import Notification

NAME = "bigbank-victim.test"


def verification_attribute(data: dict) -> dict:
    return next(a for a in data["Attributes"] if a["SendDomain"] == f"_sesconsole.{NAME}")


@pytest.fixture
def charlie_claimed(other_api) -> dict:
    data = other_api("CreateEmailIdentity", {"EmailIdentity": NAME})
    assert "Error" not in data
    return data


def test_a_name_another_account_only_claimed_is_created_as_if_it_were_free(api, charlie_claimed):
    data = api("CreateEmailIdentity", {"EmailIdentity": NAME})

    assert "Error" not in data
    assert data["VerifiedForSendingStatus"] is False
    assert len(data["Attributes"]) == 4
    mine = SenderDomain.objects.get(account=api.key.account, name=NAME)
    assert verification_attribute(data)["ExpectedValue"] == f"sesconsole-verification={mine.verification_token}"
    assert verification_attribute(data)["ExpectedValue"] != verification_attribute(charlie_claimed)["ExpectedValue"]


def test_each_account_gets_its_own_claim_back_by_name(api, other_api, charlie_claimed):
    api("CreateEmailIdentity", {"EmailIdentity": NAME})

    mine = api("GetEmailIdentity", {"EmailIdentity": NAME})

    assert verification_attribute(mine)["ExpectedValue"] != verification_attribute(charlie_claimed)["ExpectedValue"]
    assert verification_attribute(other_api("GetEmailIdentity", {"EmailIdentity": NAME})) == verification_attribute(charlie_claimed)
    assert api("ListEmailIdentities", {})["Total"] == 1


def test_the_first_account_to_publish_its_token_owns_the_name(
    api, other_api, charlie_claimed, dns_stub, owner, member, mailoutbox, django_capture_on_commit_callbacks
):
    api("CreateEmailIdentity", {"EmailIdentity": NAME})
    for attribute in charlie_claimed["Attributes"]:  # the domain's DNS holds Charlie's records
        dns_stub.set_txt(attribute["SendDomain"], attribute["ExpectedValue"])

    with django_capture_on_commit_callbacks(execute=True):
        verified = other_api("UpdateEmailIdentity", {"EmailIdentity": NAME})

    assert verified["VerifiedForSendingStatus"] is True
    assert api("GetEmailIdentity", {"EmailIdentity": NAME})["Error"]["Code"] == "ResourceNotFound"
    assert api("ListEmailIdentities", {})["Total"] == 0
    assert api("CreateEmailIdentity", {"EmailIdentity": NAME})["Error"]["Code"] == "InvalidParameterValue.CreatedByOther"
    assert Notification.objects.get(account=api.key.account).cause == Notification.DOMAIN_CLAIM_LOST
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]


def test_an_account_publishing_another_accounts_token_is_not_verified(api, charlie_claimed, dns_stub):
    mine = api("CreateEmailIdentity", {"EmailIdentity": NAME})
    for attribute in mine["Attributes"]:
        dns_stub.set_txt(attribute["SendDomain"], attribute["ExpectedValue"])
    theirs = verification_attribute(charlie_claimed)
    dns_stub.set_txt(theirs["SendDomain"], theirs["ExpectedValue"])

    data = api("UpdateEmailIdentity", {"EmailIdentity": NAME})

    assert data["VerifiedForSendingStatus"] is False
    assert verification_attribute(data)["Status"] is False
    assert verification_attribute(data)["CurrentValue"] == theirs["ExpectedValue"]
    assert SenderDomain.objects.filter(name=NAME, status=SenderDomain.VERIFIED).count() == 0


def test_updating_a_claim_another_account_verified_meanwhile_says_it_is_removed(api, charlie_claimed, dns_stub):
    mine = api("CreateEmailIdentity", {"EmailIdentity": NAME})
    # Charlie's claim was verified between Alice's last look and her check (past the API, for the timing).
    SenderDomain.objects.exclude(account=api.key.account).filter(name=NAME).update(status=SenderDomain.VERIFIED)
    for attribute in mine["Attributes"]:
        dns_stub.set_txt(attribute["SendDomain"], attribute["ExpectedValue"])

    data = api("UpdateEmailIdentity", {"EmailIdentity": NAME})

    assert data["Error"]["Code"] == "InvalidParameterValue.CreatedByOther"
    assert data["Error"]["Message"] == f"{NAME} has been verified by another account; your claim on it is removed."
    assert not SenderDomain.objects.filter(account=api.key.account).exists()


def test_deleting_an_identity_deletes_only_the_callers_claim(api, other_api, charlie_claimed):
    api("CreateEmailIdentity", {"EmailIdentity": NAME})

    assert "Error" not in api("DeleteEmailIdentity", {"EmailIdentity": NAME})

    assert list(SenderDomain.objects.values_list("account_id", flat=True)) == [other_api.key.account_id]
    assert api("DeleteEmailIdentity", {"EmailIdentity": NAME})["Error"]["Code"] == "ResourceNotFound"


def test_a_deleted_verified_identity_frees_the_name_for_another_account(api, other_api, charlie_claimed, dns_stub):
    for attribute in charlie_claimed["Attributes"]:
        dns_stub.set_txt(attribute["SendDomain"], attribute["ExpectedValue"])
    other_api("UpdateEmailIdentity", {"EmailIdentity": NAME})
    assert api("CreateEmailIdentity", {"EmailIdentity": NAME})["Error"]["Code"] == "InvalidParameterValue.CreatedByOther"

    other_api("DeleteEmailIdentity", {"EmailIdentity": NAME})

    assert "Error" not in api("CreateEmailIdentity", {"EmailIdentity": NAME})
