"""The blacklist page: the account's suppressions, filtered and searched, and removing them."""

import pytest

from sending.models import Suppression

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(account, other_account):
    return {
        "bounced": Suppression.objects.create(account=account, email="gone@example.org", reason=Suppression.BLACKLIST),
        "unsub": Suppression.objects.create(account=account, email="bye@example.org", reason=Suppression.UNSUBSCRIBED),
        "theirs": Suppression.objects.create(
            account=other_account, email="theirs@example.org", reason=Suppression.BLACKLIST
        ),
    }


def test_it_lists_the_accounts_blacklist_and_unsubscribes(client, owner, entries):
    client.force_login(owner)
    response = client.get("/blacklist/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Blacklist" in html
    assert "gone@example.org" in html and "bye@example.org" in html
    assert "theirs@example.org" not in html


def test_it_filters_by_reason(client, owner, entries):
    client.force_login(owner)
    html = client.get("/blacklist/", {"reason": "unsubscribed"}).content.decode()
    assert "bye@example.org" in html and "gone@example.org" not in html


def test_it_searches_by_address(client, member, entries):
    client.force_login(member)
    html = client.get("/blacklist/", {"q": "GONE@"}).content.decode()
    assert "gone@example.org" in html and "bye@example.org" not in html


def test_an_htmx_search_gets_only_the_entries(client, owner, entries):
    client.force_login(owner)
    response = client.get("/blacklist/", {"q": "gone"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="entries"' in html and "gone@example.org" in html
    assert "<nav" not in html


def test_removing_selected_addresses_lets_mail_go_to_them_again(client, owner, entries):
    client.force_login(owner)
    response = client.post("/blacklist/remove/", {"email": ["gone@example.org"]})
    assert response.status_code == 302
    assert not Suppression.objects.filter(email="gone@example.org").exists()
    assert "gone@example.org" not in client.get("/blacklist/").content.decode()


def test_removing_another_accounts_entry_does_nothing(client, owner, entries):
    client.force_login(owner)
    client.post("/blacklist/remove/", {"email": ["theirs@example.org"]})
    assert Suppression.objects.filter(email="theirs@example.org").exists()
    assert Suppression.objects.count() == 3


def test_removing_nothing_says_so_and_changes_nothing(client, owner, entries):
    client.force_login(owner)
    response = client.post("/blacklist/remove/", {}, follow=True)
    assert "Tick the addresses to remove first" in response.content.decode()
    assert Suppression.objects.count() == 3


def test_remove_refuses_get(client, owner, entries):
    client.force_login(owner)
    assert client.get("/blacklist/remove/").status_code == 405


def test_an_unsubscribe_cannot_be_removed_by_the_sender(client, owner, entries):
    client.force_login(owner)
    html = client.get("/blacklist/").content.decode()
    assert 'value="gone@example.org"' in html and 'value="bye@example.org"' not in html
    client.post("/blacklist/remove/", {"email": ["bye@example.org"]})
    assert Suppression.objects.filter(email="bye@example.org").exists()
