"""`manage.py seed_demo`: demo data made by the real engine, and nothing more on a second run."""

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command

from accounts import demo
from accounts.models import Account, ApiKey
from domains.models import DomainDay, LevelChange, SenderDomain, StaffActionLog
from domains.reputation.services import platform_today


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.mark.django_db
def test_the_demo_owner_and_staff_user_can_sign_in_with_the_printed_passwords(client):
    output = seed()

    assert f"Console sign-in: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}" in output
    assert f"Staff (admin) sign-in: {demo.ADMIN_EMAIL} / {demo.ADMIN_PASSWORD}" in output
    assert client.login(username=demo.DEMO_EMAIL, password=demo.DEMO_PASSWORD)
    assert client.login(username=demo.ADMIN_EMAIL, password=demo.ADMIN_PASSWORD)
    account = Account.objects.get(memberships__user__username=demo.DEMO_EMAIL)
    assert account.name == "Demo Co"
    assert ApiKey.objects.filter(account=account, enabled=True).count() == 1


@pytest.mark.django_db
def test_the_demo_domain_earned_its_levels_today_through_the_rules():
    seed()

    domain = SenderDomain.objects.get(name=demo.CLIMBING_DOMAIN)
    assert domain.level == demo.TARGET_LEVEL > 1
    changes = list(domain.level_changes.order_by("at", "pk"))
    assert [(c.from_level, c.to_level) for c in changes] == [(1, 2), (2, 3), (3, 4), (4, 5)]
    assert {c.rule for c in changes} <= {"U1", "U2"}
    today = DomainDay.objects.get(domain=domain, day=platform_today())
    assert (today.level, today.cap) == (5, 10_000)
    assert today.sent >= 3_500  # 70% of level 4's cap of 5,000, the last step up


@pytest.mark.django_db
def test_it_makes_verified_domains_and_one_pending_with_the_demo_in_the_staff_log():
    seed()

    statuses = dict(SenderDomain.objects.values_list("name", "status"))
    assert statuses == {
        demo.CLIMBING_DOMAIN: "verified", demo.STEADY_DOMAIN: "verified",
        demo.QUIET_DOMAIN: "verified", demo.PENDING_DOMAIN: "pending",
    }
    logged = StaffActionLog.objects.filter(action="force_verify", actor_label="seed_demo")
    assert sorted(logged.values_list("target", flat=True)) == sorted(demo.VERIFIED_DOMAINS)
    steady = DomainDay.objects.get(domain__name=demo.STEADY_DOMAIN, day=platform_today())
    assert steady.sent == 240 and steady.level == 1


@pytest.mark.django_db
def test_a_second_run_changes_nothing():
    seed()
    before = row_counts()
    levels = dict(SenderDomain.objects.values_list("name", "level"))

    output = seed()

    assert "The demo data is in place; nothing changed." in output
    assert row_counts() == before
    assert dict(SenderDomain.objects.values_list("name", "level")) == levels
    assert LevelChange.objects.count() == 4
