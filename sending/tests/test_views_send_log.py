"""The send log: search by day, MessageId and recipient; one message's event timeline."""

import datetime as dt

import pytest
from django.utils import timezone

from domains.models import SenderDomain
from domains.services import create_domain
from sending.models import Message, MessageEvent

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
YESTERDAY = TODAY - dt.timedelta(days=1)


def make_message(domain, recipient, day=TODAY, **fields):
    return Message.objects.create(
        account=domain.account, domain=domain, request_id="req-1", from_email=f"news@{domain.name}",
        recipient=recipient, mailbox_type=recipient.split("@")[1], subject=fields.pop("subject", "Hello"),
        send_day=day, **fields,
    )


@pytest.fixture
def messages(verified_domain, other_account):
    theirs = create_domain(other_account, "mail.charlie.example")
    theirs.status = SenderDomain.VERIFIED
    theirs.save(update_fields=["status"])
    delivered = make_message(verified_domain, "ann@gmail.com", status=Message.DELIVERED, outcome="delivered")
    MessageEvent.objects.create(message=delivered, kind="queued")
    MessageEvent.objects.create(message=delivered, kind="delivered", detail={"smtp": "250 2.0.0 ok"})
    MessageEvent.objects.create(message=delivered, kind="opened")
    return {
        "delivered": delivered,
        "old": make_message(verified_domain, "bob@qq.com", day=YESTERDAY, subject="Yesterday's news"),
        "theirs": make_message(theirs, "zed@gmail.com", subject="Charlie secret"),
    }


def test_it_lists_the_accounts_messages(client, owner, messages):
    client.force_login(owner)
    response = client.get("/log/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Send log" in html
    assert "ann@gmail.com" in html and "bob@qq.com" in html and "news@mail.alice.example" in html
    assert "Delivered" in html
    assert "zed@gmail.com" not in html and "Charlie secret" not in html


def test_it_finds_a_message_by_its_message_id(client, owner, messages):
    client.force_login(owner)
    html = client.get("/log/", {"message_id": messages["delivered"].message_id.upper()}).content.decode()
    assert "ann@gmail.com" in html and "bob@qq.com" not in html


def test_it_does_not_find_another_accounts_message_by_its_id(client, owner, messages):
    client.force_login(owner)
    html = client.get("/log/", {"message_id": messages["theirs"].message_id}).content.decode()
    assert "zed@gmail.com" not in html and "No messages match this search" in html


def test_it_finds_messages_by_recipient(client, member, messages):
    client.force_login(member)
    html = client.get("/log/", {"recipient": "bob@"}).content.decode()
    assert "bob@qq.com" in html and "ann@gmail.com" not in html


def test_it_finds_messages_by_platform_day(client, owner, messages):
    client.force_login(owner)
    html = client.get("/log/", {"day": YESTERDAY.isoformat()}).content.decode()
    assert "bob@qq.com" in html and "ann@gmail.com" not in html


def test_a_bad_date_is_an_error_not_a_crash(client, owner, messages):
    client.force_login(owner)
    response = client.get("/log/", {"day": "yesterday-ish"})
    assert response.status_code == 400
    assert "Enter a valid date" in response.content.decode()


def test_the_log_is_paginated(client, owner, verified_domain):
    for n in range(55):
        make_message(verified_domain, f"user{n:02d}@example.org")
    client.force_login(owner)
    first = client.get("/log/").content.decode()
    assert "Page 1 of 2" in first and "user54@example.org" in first and "user00@example.org" not in first
    second = client.get("/log/", {"page": 2}).content.decode()
    assert "user00@example.org" in second


def test_an_htmx_search_gets_only_the_results(client, owner, messages):
    client.force_login(owner)
    response = client.get("/log/", {"recipient": "ann"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="results"' in html and "ann@gmail.com" in html and "<nav" not in html


def test_a_message_page_shows_its_event_timeline(client, owner, messages):
    message = messages["delivered"]
    client.force_login(owner)
    response = client.get(f"/log/{message.message_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert message.message_id in html and "ann@gmail.com" in html
    assert html.index("queued") < html.index("250 2.0.0 ok") < html.index("opened")


def test_an_outsider_gets_404_for_another_accounts_message(client, outsider, messages):
    client.force_login(outsider)
    assert client.get(f"/log/{messages['delivered'].message_id}/").status_code == 404
    assert client.get(f"/log/{messages['theirs'].message_id}/").status_code == 200
