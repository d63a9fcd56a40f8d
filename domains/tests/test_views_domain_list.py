"""The sender domain list: today's quota per domain, pending downgrades, and the create form."""

import pytest
from django.utils import timezone

from domains.models import DomainDay, SenderDomain
from domains.reputation.services import record_outcome, reserve_quota

pytestmark = pytest.mark.django_db


def _row_of(html: str, name: str) -> str:
    start = html.index(f">{name}</a>")
    return html[start: html.index("</tr>", start)]


def test_it_lists_level_cap_sent_and_remaining_for_today(client, member, verified_domain):
    reserve_quota(verified_domain, [f"user{i}@gmail.com" for i in range(120)])
    record_outcome(verified_domain, timezone.localdate(), "delivered", "user0@gmail.com")
    client.force_login(member)
    row = _row_of(client.get("/domains/").content.decode(), "mail.alice.example")
    assert "Verified" in row
    assert '<td class="num" data-label="Level">1</td>' in row
    assert '<td class="num" data-label="Daily cap">500</td>' in row
    assert '<td class="num" data-label="Sent today">120</td>' in row
    assert '<td class="num" data-label="Remaining">380</td>' in row


def test_a_domain_with_no_mail_today_shows_its_full_cap_remaining(client, member, account):
    from domains.services import create_domain

    create_domain(account, "news.alice.example")
    client.force_login(member)
    row = _row_of(client.get("/domains/").content.decode(), "news.alice.example")
    assert "Pending verification" in row
    assert '<td class="num" data-label="Daily cap">500</td>' in row
    assert '<td class="num" data-label="Sent today">0</td>' in row
    assert '<td class="num" data-label="Remaining">500</td>' in row


def test_it_shows_a_pending_downgrade_with_its_rule(client, member, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=2)
    DomainDay.objects.create(
        domain=verified_domain, day=timezone.localdate(), level=2, cap=1000, sent=310, delivered=270, invalid=40
    )
    client.force_login(member)
    row = _row_of(client.get("/domains/").content.decode(), "mail.alice.example")
    assert "D1 — invalid &gt; 9%" in row
    assert "goes down one level" in row


def test_it_shows_only_the_accounts_own_domains(client, outsider, verified_domain):
    client.force_login(outsider)
    assert b"mail.alice.example" not in client.get("/domains/").content


def test_it_creates_a_domain_and_opens_its_page(client, member, account):
    client.force_login(member)
    response = client.post("/domains/", {"name": " Mail.Bob.Example ", "dkim_option": "0"}, follow=True)
    domain = SenderDomain.objects.get(account=account, name="mail.bob.example")
    assert response.redirect_chain[-1][0] == f"/domains/{domain.pk}/"
    assert domain.dkim_bits == 1024
    assert b"DNS records to publish" in response.content
    assert b"_dmarc.mail.bob.example" in response.content


def test_it_rejects_a_bad_domain_name_and_writes_nothing(client, member):
    client.force_login(member)
    response = client.post("/domains/", {"name": "not a domain", "dkim_option": "0"})
    assert response.status_code == 400
    assert "is not a valid domain name" in response.content.decode()
    assert SenderDomain.objects.count() == 0


def test_it_rejects_a_domain_created_by_another_account(client, outsider, verified_domain):
    client.force_login(outsider)
    response = client.post("/domains/", {"name": "mail.alice.example", "dkim_option": "0"})
    assert response.status_code == 400
    assert b"has been verified by another account" in response.content
    assert SenderDomain.objects.count() == 1


def test_it_rejects_an_unknown_dkim_length(client, member):
    client.force_login(member)
    response = client.post("/domains/", {"name": "mail.bob.example", "dkim_option": "7"})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    assert SenderDomain.objects.count() == 0
