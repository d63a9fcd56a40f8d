"""The dashboard: today's sent against each cap, the freeze, paused tasks, the rates of the last 7 days."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AccountFreeze
from batches.models import BatchTask
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import drain, make_list, new_task
from domains.models import DailyVolume, SenderDomain
from domains.reputation import rollups
from domains.services import create_domain
from sending.tests.send_fixtures import set_sent

pytestmark = pytest.mark.django_db

sender = batch_fixtures.sender
template = batch_fixtures.template

T0 = dt.datetime(2031, 3, 10, 9, 30, tzinfo=dt.UTC)


def _verified(account, name):
    domain = create_domain(account, name)
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED)
    domain.refresh_from_db()
    return domain


def _volume(domain, day, **counters):
    # As outcomes add them: DailyVolume and the account's rollups the dashboard reads (domains.reputation.rollups).
    rollups.add_volume(domain, day, {"gmail.com": counters})
    return DailyVolume.objects.get(domain=domain, mailbox_type="gmail.com", day=day)


@pytest.fixture
def charlie_traffic(other_account):
    """Another account's domain, counters and freeze: none of it may appear on Alice's dashboard."""
    domain = _verified(other_account, "mail.charlie.example")
    set_sent(domain, 77, delivered=10, invalid=60)
    _volume(domain, timezone.localdate(), sent=77, delivered=10, invalid=60)
    AccountFreeze.objects.create(account=other_account, day=timezone.localdate(), rule="F1", metrics={"sent": "400"})
    return domain


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/dashboard/")


def test_the_site_root_leads_a_visitor_through_sign_in_to_the_dashboard(client, owner):
    first = client.get("/", follow=True)
    assert first.redirect_chain[-1][0] == "/login/?next=/dashboard/"
    response = client.post(
        "/login/?next=/dashboard/", {"username": "alice@example.com", "password": "correct horse 42", "next": "/dashboard/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/dashboard/"


def test_it_shows_todays_sent_against_each_cap(client, member, verified_domain, charlie_traffic):
    quiet = _verified(verified_domain.account, "quiet.alice.example")
    SenderDomain.objects.filter(pk=quiet.pk).update(level=2)
    set_sent(verified_domain, 350, delivered=340)
    client.force_login(member)
    page = client.get("/dashboard/").content.decode()
    assert 'data-domain="mail.alice.example">350 / 500<' in page
    assert 'data-domain="quiet.alice.example">0 / 1,000<' in page
    assert "350 of 1,500 sent today" in page
    assert "mail.charlie.example" not in page
    assert "Not frozen" in page


def test_it_shows_the_rates_of_the_last_7_days_from_the_aggregates(client, member, verified_domain, charlie_traffic):
    today = timezone.localdate()
    _volume(verified_domain, today, requested=200, sent=200, delivered=190, invalid=10, complaints=1, opened=95)
    _volume(verified_domain, today - dt.timedelta(days=6), requested=200, sent=200, delivered=190, invalid=10, opened=95)
    # eight days ago is outside the window: were it counted, every rate would change
    _volume(verified_domain, today - dt.timedelta(days=7), sent=1_000, invalid=1_000)
    client.force_login(member)
    page = client.get("/dashboard/").content.decode()
    rates = {
        metric: page.split(f'data-rate="{metric}">', 1)[1].split("</tr>", 1)[0]
        for metric in ("invalid_rate", "delivery_rate", "spam_rate", "complaint_rate", "open_rate")
    }
    assert '<td class="num">5%</td>' in rates["invalid_rate"]  # 20 of 400 sent
    assert '<td class="num">95%</td>' in rates["delivery_rate"]  # 380 of 400 sent
    assert '<td class="num">0%</td>' in rates["spam_rate"]
    assert '<td class="num">0.26%</td>' in rates["complaint_rate"]  # 1 of 380 delivered
    assert '<td class="num">50%</td>' in rates["open_rate"]  # 190 of 380 delivered
    assert "400 sent, 380 delivered" in page


def test_it_shows_the_freeze_with_its_rule(client, member, account, verified_domain):
    AccountFreeze.objects.create(
        account=account, day=timezone.localdate(), rule="F1",
        metrics={"sent": "400", "invalid_rate": "12.00"},
    )
    client.force_login(member)
    page = client.get("/dashboard/").content.decode()
    assert "Frozen until the end of" in page
    assert "F1 — invalid &gt; 11%" in page
    assert "invalid 12.00% of 400 sent" in page


def test_another_accounts_freeze_does_not_show(client, member, verified_domain, charlie_traffic):
    client.force_login(member)
    page = client.get("/dashboard/").content.decode()
    assert "Frozen until" not in page
    assert "Not frozen" in page


def test_it_lists_a_batch_task_paused_at_the_cap_with_its_resume_time(client, member, account, sender, template):
    with time_machine.travel(T0, tick=False):
        task = new_task(account, make_list(account, 600), template)
        drain(task)
        assert task.status == BatchTask.PAUSED
        client.force_login(member)
        page = client.get("/dashboard/").content.decode()
    row = page.split(f'data-task="{task.pk}">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">500</td>' in row and '<td class="num">100</td>' in row
    resume = timezone.localtime(T0 + dt.timedelta(hours=24)).strftime("%Y-%m-%d %H:%M")
    assert resume in row
    assert 'data-domain="mail.alice.example">500 / 500<' in page
    assert "cap reached" in page


def test_another_accounts_paused_task_does_not_show(client, outsider, account, sender, template):
    with time_machine.travel(T0, tick=False):
        task = new_task(account, make_list(account, 600), template)
        drain(task)
        client.force_login(outsider)
        page = client.get("/dashboard/").content.decode()
    assert f'data-task="{task.pk}"' not in page
    assert "No batch task is paused." in page
    assert "mail.alice.example" not in page


def test_a_member_without_domains_is_invited_to_create_one(client, member):
    client.force_login(member)
    page = client.get("/dashboard/").content.decode()
    assert "No sender domains yet." in page
    assert 'aria-current="page">Dashboard<' in page
