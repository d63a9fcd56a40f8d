"""The sender addresses page: list, add on a verified domain, delete with confirmation."""

import pytest

from domains.models import SenderDomain
from domains.services import create_domain
from sending.models import SenderAddress

pytestmark = pytest.mark.django_db


@pytest.fixture
def address(account, verified_domain):
    return SenderAddress.objects.create(
        account=account, domain=verified_domain, email="news@mail.alice.example", display_name="Alice News"
    )


@pytest.fixture
def other_domain(other_account):
    domain = create_domain(other_account, "mail.charlie.example")
    domain.status = SenderDomain.VERIFIED
    domain.save(update_fields=["status"])
    return domain


def test_it_lists_the_accounts_addresses(client, owner, address):
    client.force_login(owner)
    response = client.get("/addresses/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Sender addresses" in html
    assert "news@mail.alice.example" in html and "Alice News" in html


def test_it_does_not_list_another_accounts_addresses(client, outsider, address):
    client.force_login(outsider)
    assert "news@mail.alice.example" not in client.get("/addresses/").content.decode()


def test_a_member_adds_an_address_on_a_verified_domain(client, member, verified_domain):
    client.force_login(member)
    response = client.post(
        "/addresses/", {"local_part": "hello", "domain": verified_domain.pk, "display_name": "Alice Co"}
    )
    assert response.status_code == 302
    address = SenderAddress.objects.get(email="hello@mail.alice.example")
    assert address.display_name == "Alice Co" and address.domain == verified_domain
    assert "hello@mail.alice.example" in client.get("/addresses/").content.decode()


def test_the_domain_choices_are_only_the_accounts_verified_domains(client, owner, verified_domain, other_domain):
    create_domain(verified_domain.account, "pending.alice.example")
    client.force_login(owner)
    html = client.get("/addresses/").content.decode()
    assert "mail.alice.example" in html
    assert "pending.alice.example" not in html
    assert "mail.charlie.example" not in html


def test_it_refuses_another_accounts_domain(client, owner, verified_domain, other_domain):
    client.force_login(owner)
    response = client.post("/addresses/", {"local_part": "hello", "domain": other_domain.pk})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert SenderAddress.objects.count() == 0


def test_it_refuses_a_local_part_with_an_at_sign_or_spaces(client, owner, verified_domain):
    client.force_login(owner)
    for local in ("a@b.example", "two words", ""):
        response = client.post("/addresses/", {"local_part": local, "domain": verified_domain.pk})
        assert response.status_code == 400, local
        assert 'class="field-errors"' in response.content.decode()
    assert SenderAddress.objects.count() == 0


def test_a_refused_address_shows_the_services_error_and_writes_nothing(client, owner, address):
    # The same address twice: the service refuses it; the page says so.
    client.force_login(owner)
    response = client.post("/addresses/", {"local_part": "news", "domain": address.domain.pk})
    assert response.status_code == 400
    assert 'class="form-errors"' in response.content.decode()
    assert SenderAddress.objects.count() == 1


def test_without_a_verified_domain_the_page_leads_to_the_domains(client, owner):
    client.force_login(owner)
    html = client.get("/addresses/").content.decode()
    assert "You need a verified sender domain first" in html


def test_delete_asks_for_confirmation_then_deletes(client, owner, address):
    client.force_login(owner)
    confirm = client.get(f"/addresses/{address.pk}/delete/")
    assert confirm.status_code == 200 and "news@mail.alice.example" in confirm.content.decode()
    assert SenderAddress.objects.count() == 1
    response = client.post(f"/addresses/{address.pk}/delete/")
    assert response.status_code == 302
    assert SenderAddress.objects.count() == 0


def test_an_outsider_gets_404_for_another_accounts_address(client, outsider, address):
    client.force_login(outsider)
    assert client.get(f"/addresses/{address.pk}/delete/").status_code == 404
    assert client.post(f"/addresses/{address.pk}/delete/").status_code == 404
    assert SenderAddress.objects.count() == 1


def test_it_needs_sign_in(client, address):
    response = client.get("/addresses/")
    assert response.status_code == 302 and "/login/" in response["Location"]
