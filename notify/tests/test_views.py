"""Console pages: notifications, callback settings and the delivery log, each scoped to the account."""

import pytest

from notify import services
from notify.models import CallbackDelivery, CallbackEndpoint, Notification
from sending.tests.inbound_fixtures import make_message

PASSWORD = "correct horse 42"
PUBLIC_ADDRESS = "93.184.215.14"  # a public address; nothing connects to it here


@pytest.fixture(autouse=True)
def _receiver_host_in_dns(dns_stub):
    # Saving a callback URL looks its host up: the receiver's name is published in the test DNS.
    dns_stub.set_addresses("hooks.alice.example", PUBLIC_ADDRESS)


@pytest.fixture
def owner_client(client, owner):
    client.login(username=owner.username, password=PASSWORD)
    return client


@pytest.fixture
def outsider_client(client, outsider):
    client.login(username=outsider.username, password=PASSWORD)
    return client


def test_the_notifications_page_lists_the_accounts_notifications(owner_client, account, other_account):
    services.notify_members(account, Notification.BATCH_PAUSED, "t1", "Task paused", "Task 1 paused at the cap.")
    services.notify_members(other_account, Notification.BATCH_PAUSED, "t9", "Their task", "Their secret task.")

    response = owner_client.get("/notifications/")

    assert response.status_code == 200
    assert b"Task 1 paused at the cap." in response.content
    assert b"Their secret task." not in response.content


def test_mark_all_read_marks_only_this_accounts_notifications(owner_client, account, other_account):
    services.notify_members(account, Notification.BATCH_PAUSED, "t1", "Task paused", "Task 1 paused.")
    theirs = services.notify_members(other_account, Notification.BATCH_PAUSED, "t9", "Their task", "Theirs.")

    response = owner_client.post("/notifications/read/")

    assert response.status_code == 302
    assert Notification.objects.get(account=account).read
    theirs.refresh_from_db()
    assert not theirs.read


def test_the_pages_need_a_sign_in(client, db):
    for url in ("/notifications/", "/callbacks/", "/callbacks/log/"):
        assert client.get(url).status_code == 302


def test_saving_a_callback_url_creates_the_endpoint_with_a_secret(owner_client, account):
    response = owner_client.post("/callbacks/", {"url": "https://hooks.alice.example/ses", "enabled": "on"}, follow=True)

    assert response.status_code == 200
    endpoint = CallbackEndpoint.objects.get(account=account)
    assert endpoint.url == "https://hooks.alice.example/ses" and endpoint.enabled
    assert len(endpoint.secret) >= 32
    assert endpoint.secret.encode() in response.content


def test_a_bad_callback_url_shows_an_error_and_saves_nothing(owner_client):
    response = owner_client.post("/callbacks/", {"url": "ftp://hooks.alice.example/", "enabled": "on"})

    assert response.status_code == 200
    assert b"http:// or https:// URL" in response.content
    assert CallbackEndpoint.objects.count() == 0


def test_a_new_secret_replaces_the_old_one(owner_client, account):
    endpoint, _ = services.save_endpoint(account, "https://hooks.alice.example/ses")
    old = endpoint.secret

    owner_client.post("/callbacks/secret/")

    endpoint.refresh_from_db()
    assert endpoint.secret != old


def test_the_delivery_log_shows_this_accounts_callbacks_only(owner_client, account, verified_domain):
    services.save_endpoint(account, "https://hooks.alice.example/ses")
    message = make_message(verified_domain, "reader@example.org")
    delivery = services.queue_callback(message, "delivered", {"reply": "250 ok"})

    log = owner_client.get("/callbacks/log/")
    detail = owner_client.get(f"/callbacks/log/{delivery.pk}/")
    pending = owner_client.get("/callbacks/log/?status=delivered")

    assert message.message_id.encode() in log.content
    assert detail.status_code == 200 and b'&quot;event&quot;: &quot;delivered&quot;' in detail.content
    assert message.message_id.encode() not in pending.content


def test_another_accounts_delivery_is_not_found(outsider_client, account, verified_domain):
    services.save_endpoint(account, "https://hooks.alice.example/ses")
    delivery = services.queue_callback(make_message(verified_domain, "reader@example.org"), "delivered", {})

    assert outsider_client.get(f"/callbacks/log/{delivery.pk}/").status_code == 404
    assert delivery.message_id.encode() not in outsider_client.get("/callbacks/log/").content
    assert CallbackDelivery.objects.count() == 1
