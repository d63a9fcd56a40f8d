"""The API keys page: create (SecretKey shown once), disable / enable, delete; scoped to the account."""

import pytest

from accounts.models import ApiKey

pytestmark = pytest.mark.django_db


def test_a_new_key_shows_its_secret_key_once_and_never_again(client, member, account):
    client.force_login(member)
    response = client.post("/api-keys/new/")
    assert response.status_code == 200
    key = ApiKey.objects.get(account=account)
    html = response.content.decode()
    assert key.secret_id in html
    assert key.secret_key in html
    assert "shown only this once" in html
    assert "no-store" in response["Cache-Control"]

    listing = client.get("/api-keys/").content.decode()
    assert key.secret_id in listing
    assert key.secret_key not in listing


def test_creating_a_key_needs_a_post(client, member):
    client.force_login(member)
    assert client.get("/api-keys/new/").status_code == 405
    assert ApiKey.objects.count() == 0


def test_the_list_shows_only_the_accounts_own_keys(client, member, account, other_account):
    mine, _ = ApiKey.issue(account)
    theirs, _ = ApiKey.issue(other_account)
    client.force_login(member)
    html = client.get("/api-keys/").content.decode()
    assert mine.secret_id in html
    assert theirs.secret_id not in html
    assert "never" in html  # last used


def test_it_disables_and_enables_a_key(client, member, account):
    key, _ = ApiKey.issue(account)
    client.force_login(member)
    response = client.post(f"/api-keys/{key.pk}/disable/", follow=True)
    key.refresh_from_db()
    assert key.enabled is False
    assert b"Disabled" in response.content
    client.post(f"/api-keys/{key.pk}/enable/")
    key.refresh_from_db()
    assert key.enabled is True


def test_an_htmx_toggle_returns_only_the_keys_fragment(client, member, account):
    key, _ = ApiKey.issue(account)
    client.force_login(member)
    response = client.post(f"/api-keys/{key.pk}/disable/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="api-keys"')
    assert "<html" not in html
    assert "Disabled" in html


def test_deleting_a_key_asks_first_and_deletes_on_post(client, member, account):
    key, _ = ApiKey.issue(account)
    client.force_login(member)
    confirm = client.get(f"/api-keys/{key.pk}/delete/")
    assert b"cannot be undone" in confirm.content
    assert ApiKey.objects.filter(pk=key.pk).exists()
    response = client.post(f"/api-keys/{key.pk}/delete/", follow=True)
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert b"is deleted" in response.content


def test_it_returns_404_for_another_accounts_key(client, outsider, account):
    key, _ = ApiKey.issue(account)
    client.force_login(outsider)
    assert client.post(f"/api-keys/{key.pk}/disable/").status_code == 404
    assert client.post(f"/api-keys/{key.pk}/enable/").status_code == 404
    assert client.get(f"/api-keys/{key.pk}/delete/").status_code == 404
    assert client.post(f"/api-keys/{key.pk}/delete/").status_code == 404
    key.refresh_from_db()
    assert key.enabled is True


def test_anonymous_visitors_cannot_create_keys(client):
    response = client.post("/api-keys/new/")
    assert response.status_code == 302
    assert ApiKey.objects.count() == 0
