"""Addresses typed with a non-ASCII domain find what is stored as its IDNA A-label (the console).

clean_address stores `ann@bücher.example` as `ann@xn--bcher-kva.example`; the blacklist's removal
and search and the send log's recipient search take what a person types and look for that form.
"""

import pytest
from django.utils import timezone

from core import addresses
from sending import services
from sending.models import Message, Suppression

pytestmark = pytest.mark.django_db

A_LABEL = "ann@xn--bcher-kva.example"  # ann@bücher.example


@pytest.fixture
def entries(account, other_account):
    return {
        "ours": Suppression.objects.create(account=account, email=A_LABEL, reason=Suppression.BLACKLIST),
        "plain": Suppression.objects.create(account=account, email="bob@example.org", reason=Suppression.BLACKLIST),
        # Written before addresses were stored as A-labels.
        "older": Suppression.objects.create(account=account, email="cy@bücher.example", reason=Suppression.UNSUBSCRIBED),
        "theirs": Suppression.objects.create(account=other_account, email=A_LABEL, reason=Suppression.BLACKLIST),
    }


def listed(client, **query) -> str:
    response = client.get("/blacklist/", query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("typed", ["ann@bücher.example", " ANN@BÜCHER.EXAMPLE ", "ann@xn--bcher-kva.example"])
def test_removing_an_address_typed_with_its_unicode_domain_removes_the_a_label_entry(client, owner, entries, typed):
    client.force_login(owner)
    response = client.post("/blacklist/remove/", {"email": [typed]})
    assert response.status_code == 302
    assert "Removed 1 address" in client.get("/blacklist/").content.decode()
    assert not Suppression.objects.filter(pk=entries["ours"].pk).exists()
    # Another account's entry for the same address stays.
    assert Suppression.objects.filter(pk=entries["theirs"].pk).exists()
    assert Suppression.objects.count() == 3


def test_an_address_with_no_ascii_form_removes_nothing(client, owner, entries):
    client.force_login(owner)
    client.post("/blacklist/remove/", {"email": ["jörg@bücher.example", "x@☃.example"]})
    assert Suppression.objects.count() == 4


@pytest.mark.parametrize("typed", ["bücher", "@BÜCHER.example", "ann@bücher", "bücher。example", "xn--bcher"])
def test_the_blacklist_search_finds_the_a_label_from_a_partial_unicode_domain(client, member, entries, typed):
    client.force_login(member)
    html = listed(client, q=typed)
    assert A_LABEL in html
    assert "bob@example.org" not in html


def test_the_blacklist_search_still_finds_an_older_entry_stored_as_typed(client, owner, entries):
    client.force_login(owner)
    html = listed(client, q="cy@bücher")
    assert "cy@bücher.example" in html and A_LABEL not in html


@pytest.mark.parametrize("typed", ["☃", "jörg@bücher", "bü_cher"])
def test_a_search_text_that_cannot_convert_is_searched_as_typed(client, owner, entries, typed):
    client.force_login(owner)
    html = listed(client, q=typed)
    assert A_LABEL not in html and "bob@example.org" not in html


def test_the_blacklist_search_shows_no_other_accounts_entry(client, outsider, entries):
    client.force_login(outsider)
    html = listed(client, q="bücher")
    assert A_LABEL in html  # their own entry
    assert "cy@bücher.example" not in html and "bob@example.org" not in html


# --- the send log -----------------------------------------------------------------------------------


def make_message(domain, recipient):
    return Message.objects.create(
        account=domain.account, domain=domain, request_id="req-1", from_email=f"news@{domain.name}",
        recipient=recipient, mailbox_type=recipient.split("@")[1], subject="Hello", send_day=timezone.localdate(),
    )


@pytest.fixture
def sent(verified_domain):
    return {"idn": make_message(verified_domain, A_LABEL), "plain": make_message(verified_domain, "bob@example.org")}


def log(client, recipient) -> str:
    response = client.get("/log/", {"recipient": recipient})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("typed", ["ann@bücher.example", "bücher", "@Bücher.Example", "ann@bücher"])
def test_the_send_log_finds_a_recipient_typed_with_its_unicode_domain(client, owner, sent, typed):
    client.force_login(owner)
    html = log(client, typed)
    assert A_LABEL in html and "bob@example.org" not in html


@pytest.mark.parametrize("typed", ["jörg@bücher", "☃.example"])
def test_the_send_log_searches_an_unconvertible_text_as_typed(client, owner, sent, typed):
    client.force_login(owner)
    html = log(client, typed)
    assert A_LABEL not in html and "bob@example.org" not in html


def test_the_send_log_search_shows_no_other_accounts_message(client, outsider, sent):
    client.force_login(outsider)
    assert A_LABEL not in log(client, "bücher")


# --- the conversions themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("typed, expected", [
    ("", []),
    ("  ", []),
    ("gone@", ["gone@"]),
    ("bücher", ["bücher", "xn--bcher-kva"]),
    ("ann@BÜCHER.example", ["ann@BÜCHER.example", "ann@xn--bcher-kva.example"]),
    ("bücher.", ["bücher.", "xn--bcher-kva."]),
    ("jörg@example", ["jörg@example"]),
    ("☃", ["☃"]),
])
def test_address_search_texts(typed, expected):
    assert addresses.address_search_texts(typed) == expected


def test_address_lookup_forms():
    assert services.address_lookup_forms(" Ann@Bücher.Example ") == {"ann@bücher.example", A_LABEL}
    assert services.address_lookup_forms("Ann@Example.org") == {"ann@example.org"}
    assert services.address_lookup_forms("jörg@example.org") == {"jörg@example.org"}
    assert services.address_lookup_forms(" ") == set()
