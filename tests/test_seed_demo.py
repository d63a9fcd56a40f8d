"""`manage.py seed_demo`: 30 days of a platform at work, made by the real engine, and nothing more on a
second run.

The demo is built once for this module (it takes seconds, with real commits: the in-process tasks
run after each commit, as a worker would) and every test reads it through the product's own pages
and queries; the database is emptied when the module is done.
"""

import datetime as dt
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import F
from django.test.utils import override_settings
from django.utils import timezone

from accounts import demo
from accounts.models import Account, AccountFreeze, ApiKey
from batches.models import BatchTask
from domains.models import ClosedDay, LevelChange, SenderDomain, StaffActionLog, WorkOrder
from domains.reputation import levels
from domains.reputation.services import domains_today, platform_today
from sending.models import Message
from stats.queries import daily_volumes, mailbox_types

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHER):
        try:
            yield seed()
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def demo_account(seeded, db) -> Account:
    return Account.objects.get(memberships__user__username=demo.DEMO_EMAIL)


def signed_in(client, email: str):
    assert client.login(username=email, password=demo.DEMO_PASSWORD)
    return client


def test_the_demo_owners_and_staff_sign_in_with_the_printed_passwords(seeded, db, client, settings):
    settings.PASSWORD_HASHERS = FAST_HASHER
    assert f"Console sign-in: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}" in seeded
    assert f"Staff (admin) sign-in: {demo.ADMIN_EMAIL} / {demo.ADMIN_PASSWORD}" in seeded
    for email in (demo.DEMO_EMAIL, demo.SHOP_EMAIL, demo.GLOBEX_EMAIL):
        assert client.login(username=email, password=demo.DEMO_PASSWORD), email
    assert client.login(username=demo.ADMIN_EMAIL, password=demo.ADMIN_PASSWORD)
    assert sorted(Account.objects.values_list("name", flat=True)) == ["Demo Co", "Globex", "Northwind Shop"]
    account = Account.objects.get(memberships__user__username=demo.DEMO_EMAIL)
    assert ApiKey.objects.filter(account=account, enabled=True).count() == 1
    # .ci/run signs in and looks for the climbing domain on the first page.
    response = signed_in(client, demo.DEMO_EMAIL).get("/domains/")
    assert demo.CLIMBING_DOMAIN in response.content.decode()


def test_the_climbing_domain_earned_levels_1_to_12_through_the_rules(demo_account, client, settings):
    domain = SenderDomain.objects.get(name=demo.CLIMBING_DOMAIN)
    changes = list(domain.level_changes.order_by("at", "pk"))

    assert [(c.from_level, c.to_level) for c in changes] == [(n, n + 1) for n in range(1, 12)]
    assert domain.level == 12
    assert {c.rule for c in changes} == {"U1", "U2"}  # one good day with a list-hygiene slip: U2
    for change in changes:
        share = float(change.metrics["sent_of_cap"])
        assert share >= 70, change  # each one fired on a day's real counters, past the upgrade share
    days = sorted({c.day for c in changes})
    assert days[0] < days[-1] - dt.timedelta(days=20), "the climb spans the month"
    assert len(days) < len(changes), "on some days the rules allowed two upgrades, one after the other"
    # The domain page tells the same history, rule by rule.
    settings.PASSWORD_HASHERS = FAST_HASHER
    page = signed_in(client, demo.DEMO_EMAIL).get(f"/domains/{domain.pk}/").content.decode()
    assert page.count("→ 12") >= 1 and "U2" in page


def test_the_downgrade_after_a_bad_day_and_the_freeze_are_on_record(demo_account):
    downgrade = LevelChange.objects.get(domain__name=demo.DOWNGRADED_DOMAIN, to_level__lt=F("from_level"))
    assert (downgrade.from_level, downgrade.to_level, downgrade.rule) == (4, 3, "D1")
    assert float(downgrade.metrics["invalid_rate"]) > 9
    # Effective from the start of the day after the one whose counters fired it (closed by the tick).
    assert downgrade.effective_at.date() == downgrade.day + dt.timedelta(days=1)
    assert ClosedDay.objects.filter(day=downgrade.day, downgrades__gte=1).exists()

    freeze = AccountFreeze.objects.get()
    assert freeze.account.name == demo.SHOP_ACCOUNT and freeze.rule == "F1"
    assert float(freeze.metrics["invalid_rate"]) > 11 and int(freeze.metrics["sent"]) > 300
    assert freeze.ended_at is not None and freeze.lifted_at is None  # it ran its course to midnight
    # The simulator's bounces froze it mid-delivery: the rest of that send was dropped, counted nowhere.
    dropped = Message.objects.filter(account=freeze.account, status=Message.DROPPED, send_day=freeze.day)
    assert dropped.exists() and set(dropped.values_list("outcome", flat=True)) == {"account frozen"}
    assert Message.objects.filter(account=freeze.account, outcome="invalid", send_day=freeze.day).exists()


def test_a_batch_paused_at_its_cap_resumed_24_hours_later_and_another_is_paused_today(demo_account):
    tasks = list(BatchTask.objects.filter(account=demo_account).order_by("created_at"))
    assert len(tasks) == 2
    earlier, today = tasks

    assert earlier.status == BatchTask.DONE and earlier.send_count == earlier.request_count
    assert earlier.paused_at is not None
    # The tick resumed it once its 24 hours were over, and it finished that day.
    assert earlier.finished_at - earlier.paused_at >= dt.timedelta(hours=24)
    assert earlier.finished_at - earlier.paused_at < dt.timedelta(hours=26)
    sent_on = set(Message.objects.filter(batch_task=earlier).values_list("send_day", flat=True))
    assert sent_on == {earlier.paused_at.date(), earlier.paused_at.date() + dt.timedelta(days=1)}

    assert today.status == BatchTask.PAUSED
    assert 0 < today.send_count < today.request_count
    assert "daily cap" in today.pause_reason
    assert timezone.localtime(today.paused_at).date() == platform_today()
    assert today.resume_at == today.paused_at + dt.timedelta(hours=24)


def test_a_level_20_domain_with_a_work_order_staff_approved(seeded, db):
    domain = SenderDomain.objects.get(name=demo.TOP_DOMAIN)
    assert domain.level == levels.top_level() == 20
    assert domain.custom_cap == demo.CUSTOM_CAP and domain.daily_cap == demo.CUSTOM_CAP
    assert [(c.from_level, c.to_level) for c in domain.level_changes.order_by("at", "pk")] == [
        (n, n + 1) for n in range(1, 20)
    ]
    order = WorkOrder.objects.get(domain=domain)
    assert order.status == WorkOrder.APPROVED and order.approved_cap == demo.CUSTOM_CAP
    assert order.requested_cap == demo.REQUESTED_CAP
    assert order.decided_by.username == demo.ADMIN_EMAIL and order.decided_at > order.filed_at
    assert StaffActionLog.objects.filter(action="approve_work_order", target=demo.TOP_DOMAIN).exists()


def test_statistics_have_30_days_of_data_and_today_is_alive(demo_account):
    today = platform_today()
    days = daily_volumes(demo_account, today - dt.timedelta(days=29), today)

    assert len(days) == 30
    assert all(totals.accepted > 0 for _, totals in days), [d for d, t in days if not t.accepted]
    assert {"gmail.com", "qq.com", "simulator.sesconsole.invalid"} <= set(mailbox_types(demo_account))
    sent_today = {domain.name: row.sent for domain, row, _ in domains_today(demo_account) if row}
    assert sent_today[demo.CLIMBING_DOMAIN] > 0 and sent_today[demo.DOWNGRADED_DOMAIN] > 0
    # Real mail went through the simulator every day: its outcomes, not ours.
    real = Message.objects.filter(account=demo_account)
    assert real.filter(send_day=today).exists()
    assert {"delivered", "invalid"} <= set(real.values_list("outcome", flat=True))
    assert real.filter(opened_at__isnull=False).exists() and real.filter(clicked_at__isnull=False).exists()
    statuses = dict(SenderDomain.objects.filter(account=demo_account).values_list("name", "status"))
    assert statuses == {
        demo.CLIMBING_DOMAIN: "verified", demo.DOWNGRADED_DOMAIN: "verified",
        demo.QUIET_DOMAIN: "verified", demo.PENDING_DOMAIN: "pending",
    }
    logged = StaffActionLog.objects.filter(action="force_verify", actor_label="seed_demo")
    assert demo.CLIMBING_DOMAIN in set(logged.values_list("target", flat=True))


def test_a_second_run_changes_nothing(seeded, db):
    before = row_counts()
    levels_before = dict(SenderDomain.objects.values_list("name", "level"))

    output = seed()

    assert "The demo data is in place; nothing changed." in output
    assert row_counts() == before
    assert dict(SenderDomain.objects.values_list("name", "level")) == levels_before
