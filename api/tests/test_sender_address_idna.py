"""DeleteEmailAddress (and the console's delete) find a sender address whose domain was typed in
Unicode: it is stored as its IDNA A-label (news@bücher.example → news@xn--bcher-kva.example)."""

import pytest

from api.tests.signing import error_code
from domains.models import SenderDomain
from domains.services import create_domain
from sending.models import SenderAddress

A_LABEL = "news@xn--bcher-kva.example"


@pytest.fixture
def idn_domain(account):
    domain = create_domain(account, "Bücher.example")
    domain.status = SenderDomain.VERIFIED
    domain.save(update_fields=["status"])
    return domain


def emails() -> list[str]:
    return sorted(SenderAddress.objects.values_list("email", flat=True))


@pytest.mark.parametrize("typed", ["news@bücher.example", " News@BÜCHER.example ", A_LABEL, "NEWS@XN--BCHER-KVA.example"])
def test_an_address_typed_in_unicode_or_as_its_a_label_is_deleted(api, idn_domain, typed):
    assert "Error" not in api("CreateEmailAddress", {"EmailAddress": "News@Bücher.example"})
    assert [s["EmailAddress"] for s in api("ListEmailAddress")["EmailSenders"]] == [A_LABEL]

    assert "Error" not in api("DeleteEmailAddress", {"EmailAddress": typed})
    assert emails() == []


def test_an_older_row_stored_in_unicode_is_deleted_as_typed(api, idn_domain):
    SenderAddress.objects.create(account=idn_domain.account, domain=idn_domain, email="old@bücher.example")
    assert "Error" not in api("DeleteEmailAddress", {"EmailAddress": "OLD@Bücher.example"})
    assert emails() == []


def test_another_tenant_typing_our_address_in_unicode_deletes_nothing(api, other_api, idn_domain):
    api("CreateEmailAddress", {"EmailAddress": "news@bücher.example"})
    data = other_api("DeleteEmailAddress", {"EmailAddress": "news@bücher.example"})
    assert error_code(data) == "InvalidParameterValue.NoSuchSender"
    assert emails() == [A_LABEL]


@pytest.mark.parametrize("typed", ["news@☃.example", "jörg@bücher.example", "nobody@bücher.example"])
def test_an_address_that_is_not_ours_is_no_such_sender(api, idn_domain, typed):
    api("CreateEmailAddress", {"EmailAddress": "news@bücher.example"})
    assert error_code(api("DeleteEmailAddress", {"EmailAddress": typed})) == "InvalidParameterValue.NoSuchSender"
    assert emails() == [A_LABEL]


def test_the_console_deletes_the_row_chosen_when_an_older_unicode_row_has_the_same_address(client, owner, idn_domain):
    SenderAddress.objects.create(account=idn_domain.account, domain=idn_domain, email=A_LABEL)
    older = SenderAddress.objects.create(account=idn_domain.account, domain=idn_domain, email="news@bücher.example")
    client.force_login(owner)

    response = client.post(f"/addresses/{older.pk}/delete/")
    assert response.status_code == 302
    assert emails() == [A_LABEL]
    newer = SenderAddress.objects.get()
    client.post(f"/addresses/{newer.pk}/delete/")
    assert emails() == []
