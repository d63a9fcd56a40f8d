"""`manage.py seed_demo`: 30 days of a platform at work, made by the real engine, and nothing more on a
second run.

The demo is built once for this module (under a minute, with real commits: the in-process tasks
run after each commit, as a worker would) and every test reads it through the product's own pages
and queries; the database is emptied when the module is done. The build starts a moment before
midnight, so the platform day turns while the history is made, as it does for a build that runs
late at night.

Thresholds are the rule tables' (settings.SES_REPUTATION through domains.reputation.levels).
"""

import datetime as dt
import re
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Account, AccountFreeze, ApiKey, StaffActionLog
from batches.models import BatchTask
from core.clock import platform_today
from domains.models import ClosedDay, DomainDay, LevelChange, SenderDomain, WorkOrder
from domains.reputation import levels
from domains.reputation.rules import OPERATORS
from domains.reputation.services import domains_today
from domains.services import create_domain, expire_unverified_claims
from ops import demo
from sending.models import Message
from stats.queries import daily_volumes, mailbox_types

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def held(table, rule: str, metrics: dict) -> None:
    """Every condition of `rule` holds on the values recorded when it fired (as the rule table has it)."""
    for metric, op, value in table[rule]:
        assert OPERATORS[op](Decimal(str(metrics[metric])), Decimal(value)), (rule, metric, metrics[metric], op, value)


# -- the database seed_demo accepts (these run first, on the empty test database) ---------------------


def test_seed_demo_refuses_a_database_with_users_or_accounts_of_its_own(db):
    get_user_model().objects.create_user("ops@example.com", "ops@example.com", "a-real-password")
    Account.objects.create(name="Demo Co")  # the demo's name, but none of the demo's owners
    before = row_counts()

    with pytest.raises(CommandError) as refused:
        seed()

    message = str(refused.value)
    assert "not the demo's" in message and "user ops@example.com" in message and "account “Demo Co”" in message
    assert demo.ADMIN_EMAIL in message and "--force" in message
    assert row_counts() == before
    assert not get_user_model().objects.filter(username=demo.ADMIN_EMAIL).exists()


def test_force_seeds_past_the_refusal(db):
    """--force passes the check: here the build stops at the next one (a demo that stopped halfway)."""
    get_user_model().objects.create_user("ops@example.com", "ops@example.com", "a-real-password")
    create_domain(Account.objects.create(name="Throwaway"), demo.CLIMBING_DOMAIN)

    with pytest.raises(CommandError, match="not the demo's"):
        seed()
    with pytest.raises(CommandError, match="stopped halfway"):
        seed("--force")


# -- the demo, built once -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def build(django_db_setup, django_db_blocker) -> dict:
    """bin/dev start on an empty database, started a moment before midnight (platform time)."""
    started_on = timezone.localdate() - dt.timedelta(days=1)
    late = timezone.make_aware(dt.datetime.combine(started_on, dt.time(23, 59, 59, 900_000)))
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHER):
        try:
            with time_machine.travel(late, tick=True):
                output = seed()
                ended_on = platform_today()
            yield {"output": output, "started_on": started_on, "ended_on": ended_on}
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def seeded(build) -> str:
    return build["output"]


@pytest.fixture
def seeded_day(build) -> dt.date:
    """The demo's today, as the command reports it (the day its last traffic and the paused batch are on)."""
    match = re.search(r"The demo's 30 days: (\S+) to (\S+) \(today\)", build["output"])
    assert match, build["output"]
    first, today = (dt.date.fromisoformat(day) for day in match.groups())
    assert today - first == dt.timedelta(days=29)
    return today


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
        held(levels.upgrade_rules(), change.rule, change.metrics)  # each one fired on a day's real counters
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
    held(levels.downgrade_rules(), "D1", downgrade.metrics)
    # Effective from the start of the day after the one whose counters fired it (closed by the tick).
    assert downgrade.effective_at.date() == downgrade.day + dt.timedelta(days=1)
    assert ClosedDay.objects.filter(day=downgrade.day, downgrades__gte=1).exists()

    freeze = AccountFreeze.objects.get()
    assert freeze.account.name == demo.SHOP_ACCOUNT and freeze.rule == "F1"
    held(levels.freeze_rules(), "F1", freeze.metrics)
    assert freeze.ended_at is not None and freeze.lifted_at is None  # it ran its course to midnight
    # The simulator's bounces froze it mid-delivery: the rest of that send was dropped, counted nowhere.
    dropped = Message.objects.filter(account=freeze.account, status=Message.DROPPED, send_day=freeze.day)
    assert dropped.exists() and set(dropped.values_list("outcome", flat=True)) == {"account frozen"}
    assert Message.objects.filter(account=freeze.account, outcome="invalid", send_day=freeze.day).exists()


def test_a_batch_paused_at_its_cap_resumed_24_hours_later_and_another_is_paused_today(demo_account, seeded_day):
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
    assert timezone.localtime(today.paused_at).date() == seeded_day
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


def test_statistics_have_30_days_of_data_and_today_is_alive(demo_account, seeded_day):
    today = seeded_day
    days = daily_volumes(demo_account, today - dt.timedelta(days=29), today)

    assert len(days) == 30
    assert all(totals.accepted > 0 for _, totals in days), [d for d, t in days if not t.accepted]
    assert {"gmail.com", "qq.com", "simulator.sesconsole.invalid"} <= set(mailbox_types(demo_account))
    if platform_today() == seeded_day:  # (a test run that itself crosses midnight has a new, empty today)
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


def test_the_day_the_platform_turned_during_the_build_has_its_mail(build, seeded_day, demo_account):
    assert build["ended_on"] == build["started_on"] + dt.timedelta(days=1) == seeded_day
    assert f"The platform day turned during the build: {build['started_on']:%Y-%m-%d}" in build["output"]
    skipped = build["started_on"]
    sent = dict(DomainDay.objects.filter(day=skipped).values_list("domain__name", "sent"))
    assert sent[demo.CLIMBING_DOMAIN] > 0 and sent[demo.DOWNGRADED_DOMAIN] > 0 and sent[demo.TOP_DOMAIN] > 0
    (day, totals), = daily_volumes(demo_account, skipped, skipped)
    assert day == skipped and totals.accepted > 0
    assert ClosedDay.objects.filter(day=skipped).exists()  # the tick closed it when today began


def test_a_run_a_week_later_after_the_pending_domain_expired_changes_nothing(seeded, db):
    with time_machine.travel(timezone.now() + dt.timedelta(days=8), tick=False):
        assert expire_unverified_claims() == 1
    before = row_counts()

    output = seed()

    assert "The demo data is in place; nothing changed." in output
    assert row_counts() == before
    assert not SenderDomain.objects.filter(name=demo.PENDING_DOMAIN).exists()


def test_a_second_run_changes_nothing(seeded, db):
    # bin/dev start again on the demo's database; a user who signed up meanwhile changes nothing.
    get_user_model().objects.create_user("visitor@example.com", "visitor@example.com", "password-123")
    before = row_counts()
    levels_before = dict(SenderDomain.objects.values_list("name", "level"))

    output = seed()

    assert "The demo data is in place; nothing changed." in output
    assert row_counts() == before
    assert dict(SenderDomain.objects.values_list("name", "level")) == levels_before
