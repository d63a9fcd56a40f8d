"""Email identity actions through a signed request: the wire shape, DNS checks, tenant scoping."""

import pytest

from domains.models import SenderDomain
from domains.services import create_domain, force_verify, records_for

# The dns_stub fixture; harmless once the root conftest lists the plugin too.

NAME = "mail.alice.example"


@pytest.fixture
def charlies_domain(other_account) -> SenderDomain:
    return create_domain(other_account, "mail.charlie.example")


def make_verified(account, name: str, level: int = 1, custom_cap=None) -> SenderDomain:
    domain = create_domain(account, name)
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED, level=level, custom_cap=custom_cap)
    domain.refresh_from_db()
    return domain


def test_creating_an_identity_returns_the_four_txt_records_to_publish(api):
    data = api("CreateEmailIdentity", {"EmailIdentity": "Mail.Alice.Example."})

    assert "Error" not in data
    domain = SenderDomain.objects.get(name=NAME)
    assert domain.account == api.key.account
    assert domain.status == SenderDomain.PENDING
    assert data["IdentityType"] == "DOMAIN"
    assert data["VerifiedForSendingStatus"] is False
    assert data["DKIMOption"] == 0
    assert data["Attributes"] == [
        {"Type": "TXT", "SendDomain": r.host, "ExpectedValue": r.value, "CurrentValue": "", "Status": False}
        for r in records_for(domain)
    ]
    assert [a["SendDomain"] for a in data["Attributes"]] == [
        NAME, f"sesconsole._domainkey.{NAME}", f"_dmarc.{NAME}", f"_sesconsole.{NAME}"
    ]
    assert data["Attributes"][3]["ExpectedValue"] == f"sesconsole-verification={domain.verification_token}"


def test_dkim_option_1_asks_for_a_2048_bit_key_as_the_sdk_documents(api):
    data = api("CreateEmailIdentity", {"EmailIdentity": NAME, "DKIMOption": 1})

    assert data["DKIMOption"] == 1
    assert SenderDomain.objects.get(name=NAME).dkim_bits == 2048


def test_creating_the_same_identity_twice_is_refused(api, db_state):
    api("CreateEmailIdentity", {"EmailIdentity": NAME})
    before = db_state()

    data = api("CreateEmailIdentity", {"EmailIdentity": NAME})

    assert data["Error"]["Code"] == "InvalidParameterValue.RepeatCreation"
    assert db_state() == before


def test_it_rejects_a_domain_verified_by_another_account(api, charlies_domain, db_state):
    force_verify(charlies_domain)
    before = db_state()

    data = api("CreateEmailIdentity", {"EmailIdentity": "mail.charlie.example"})

    assert data["Error"]["Code"] == "InvalidParameterValue.CreatedByOther"
    assert db_state() == before
    assert SenderDomain.objects.get(name="mail.charlie.example").account_id == charlies_domain.account_id


@pytest.mark.parametrize("name", ["localhost", "not a domain", "-bad-.example.com", "x.simulator.sesconsole.invalid"])
def test_it_rejects_an_invalid_domain_name(api, db_state, name):
    before = db_state()

    data = api("CreateEmailIdentity", {"EmailIdentity": name})

    assert data["Error"]["Code"] == "InvalidParameterValue"
    assert db_state() == before


def test_getting_an_identity_shows_what_the_last_check_found(api, dns_stub):
    domain = create_domain(api.key.account, NAME)
    spf, dkim, _dmarc, _verification = records_for(domain)
    dns_stub.set_txt(spf.host, "google-site-verification=abc", spf.value)
    dns_stub.set_txt(dkim.host, dkim.value)
    api("UpdateEmailIdentity", {"EmailIdentity": NAME})

    data = api("GetEmailIdentity", {"EmailIdentity": NAME})

    assert data["VerifiedForSendingStatus"] is False
    assert data["TagList"] == []
    by_host = {a["SendDomain"]: a for a in data["Attributes"]}
    assert by_host[spf.host]["CurrentValue"] == spf.value
    assert by_host[spf.host]["Status"] is True
    assert by_host[dkim.host]["CurrentValue"] == dkim.value  # longer than 255 bytes: the strings are joined
    assert by_host[dkim.host]["Status"] is True
    assert by_host[f"_dmarc.{NAME}"] == {
        "Type": "TXT", "SendDomain": f"_dmarc.{NAME}", "ExpectedValue": _dmarc.value, "CurrentValue": "", "Status": False,
    }


def test_updating_an_identity_checks_dns_now_and_verifies_it(api, dns_stub):
    domain = create_domain(api.key.account, NAME)
    dns_stub.publish(domain)

    data = api("UpdateEmailIdentity", {"EmailIdentity": NAME})

    assert data["VerifiedForSendingStatus"] is True
    assert all(a["Status"] for a in data["Attributes"])
    domain.refresh_from_db()
    assert domain.status == SenderDomain.VERIFIED
    assert domain.last_checked_at is not None


def test_updating_an_identity_cannot_swap_its_dkim_key(api, db_state):
    create_domain(api.key.account, NAME)
    before = db_state()

    data = api("UpdateEmailIdentity", {"EmailIdentity": NAME, "DKIMOption": 1})

    assert data["Error"]["Code"] == "InvalidParameterValue"
    assert "1024-bit" in data["Error"]["Message"]
    assert db_state() == before


@pytest.mark.parametrize("action", ["GetEmailIdentity", "UpdateEmailIdentity", "DeleteEmailIdentity"])
def test_another_accounts_domain_is_not_found(api, charlies_domain, db_state, action, dns_stub):
    dns_stub.publish(charlies_domain)
    before = db_state()

    data = api(action, {"EmailIdentity": "mail.charlie.example"})

    assert data["Error"]["Code"] == "ResourceNotFound"
    assert "charlie" not in data["Error"]["Message"]
    assert db_state() == before
    assert dns_stub.queries == []


@pytest.mark.parametrize("action", ["GetEmailIdentity", "UpdateEmailIdentity", "DeleteEmailIdentity"])
def test_an_unknown_domain_is_not_found(api, db_state, action):
    before = db_state()

    data = api(action, {"EmailIdentity": "nothing.alice.example"})

    assert data["Error"]["Code"] == "ResourceNotFound"
    assert db_state() == before


def test_deleting_an_identity_removes_it(api, charlies_domain):
    create_domain(api.key.account, NAME)

    data = api("DeleteEmailIdentity", {"EmailIdentity": NAME})

    assert set(data) == {"RequestId"}
    assert not SenderDomain.objects.filter(name=NAME).exists()
    assert SenderDomain.objects.filter(pk=charlies_domain.pk).exists()


def test_listing_identities_shows_level_and_quota_of_own_domains_only(api, charlies_domain):
    make_verified(api.key.account, "a.alice.example", level=3)
    make_verified(api.key.account, "b.alice.example", level=20, custom_cap=2_500_000)
    create_domain(api.key.account, "c.alice.example")
    make_verified(charlies_domain.account, "d.charlie.example", level=19)

    data = api("ListEmailIdentities")

    assert data["Total"] == 3
    assert [(i["IdentityName"], i["SendingEnabled"], i["CurrentReputationLevel"], i["DailyQuota"])
            for i in data["EmailIdentities"]] == [
        ("a.alice.example", True, 3, 2_000),
        ("b.alice.example", True, 20, 2_500_000),
        ("c.alice.example", False, 1, 500),
    ]
    assert all(i["IdentityType"] == "DOMAIN" and i["SendIp"] == [] for i in data["EmailIdentities"])
    assert data["MaxReputationLevel"] == 20
    assert data["MaxDailyQuota"] == 2_500_000


def test_the_maxima_count_verified_domains_only(api):
    SenderDomain.objects.filter(pk=create_domain(api.key.account, "pending.alice.example").pk).update(level=5)

    data = api("ListEmailIdentities")

    assert data["Total"] == 1
    assert data["MaxReputationLevel"] == 0
    assert data["MaxDailyQuota"] == 0


def test_listing_pages_with_limit_and_offset(api):
    for letter in "abcde":
        make_verified(api.key.account, f"{letter}.alice.example", level=2)

    data = api("ListEmailIdentities", {"Limit": 2, "Offset": 1})

    assert data["Total"] == 5
    assert [i["IdentityName"] for i in data["EmailIdentities"]] == ["b.alice.example", "c.alice.example"]
    assert data["MaxDailyQuota"] == 1_000


@pytest.mark.parametrize("params, code", [
    ({"Limit": 0}, "InvalidParameterValue"),
    ({"Offset": -1}, "InvalidParameterValue"),
    ({"Limit": "10"}, "InvalidParameter"),
])
def test_listing_rejects_bad_paging(api, params, code):
    assert api("ListEmailIdentities", params)["Error"]["Code"] == code
