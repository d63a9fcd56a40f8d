"""Member notifications (SPEC §6.1): cap warning, level change, freeze — console and email, once per cause per day."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from core.clock import platform_today
from domains.models import DomainDay
from domains.reputation.services import check_freeze, check_upgrade, get_day
from notify import services
from notify.models import Notification


def set_counters(domain, **values) -> DomainDay:
    row = get_day(domain)
    DomainDay.objects.filter(pk=row.pk).update(**values)
    row.refresh_from_db()
    return row


@pytest.fixture
def members(owner, member, outsider):
    return owner, member


def test_a_domain_past_90_percent_of_its_cap_warns_every_member_once(
    members, verified_domain, mailoutbox, django_capture_on_commit_callbacks
):
    set_counters(verified_domain, sent=450, requested=450)  # 90% of the level-1 cap of 500

    with django_capture_on_commit_callbacks(execute=True):
        assert services.warn_domains_near_cap() == "warned about 1 domain(s) near their cap"
        assert services.warn_domains_near_cap() == "no domain near its cap"

    notification = Notification.objects.get()
    assert notification.cause == Notification.CAP_WARNING
    assert "450 of its 500" in notification.text
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]
    assert "mail.alice.example" in mailoutbox[0].subject
    assert notification.emailed_to == 2
    assert DomainDay.objects.get(domain=verified_domain).cap_warned_at is not None


def test_a_domain_below_the_warning_share_is_left_alone(members, verified_domain, mailoutbox):
    set_counters(verified_domain, sent=449, requested=449)

    assert services.warn_domains_near_cap() == "no domain near its cap"
    assert Notification.objects.count() == 0
    assert mailoutbox == []


def test_the_warning_share_comes_from_the_settings(members, verified_domain, settings):
    settings.SES_REPUTATION = {**settings.SES_REPUTATION, "CAP_WARNING_PERCENT": "80"}
    row = set_counters(verified_domain, sent=400, requested=400)

    assert services.check_cap_warning(row) is not None


def test_the_warning_names_the_upgrade_rules_share_of_the_cap(members, verified_domain, settings):
    # Two upgrade rules asking for different shares: the warning names the lowest, as the table writes it.
    rules = settings.SES_REPUTATION["UPGRADE_RULES"]
    settings.SES_REPUTATION = {**settings.SES_REPUTATION, "UPGRADE_RULES": {
        "U1": [("sent_of_cap", ">=", "85.0"), *rules["U1"][1:]],
        "U2": [("sent_of_cap", ">=", "60.5"), *[c for c in rules["U1"] if c[0] != "sent_of_cap"]],
    }}
    row = set_counters(verified_domain, sent=450, requested=450)

    notification = services.check_cap_warning(row)
    assert "good at 60.5% of the cap" in notification.text


def test_the_cap_warning_can_come_again_the_next_day(members, verified_domain):
    set_counters(verified_domain, sent=450, requested=450)
    services.warn_domains_near_cap()
    with time_machine.travel(timezone.now() + dt.timedelta(days=1)):
        set_counters(verified_domain, sent=480, requested=480)
        services.warn_domains_near_cap()

    assert Notification.objects.filter(cause=Notification.CAP_WARNING).count() == 2


def test_an_upgrade_notifies_the_members_once_a_day_however_many_levels(
    members, verified_domain, mailoutbox, django_capture_on_commit_callbacks
):
    day = platform_today()
    with django_capture_on_commit_callbacks(execute=True):
        set_counters(verified_domain, sent=350, requested=350, delivered=350)
        assert check_upgrade(verified_domain.pk, day) == 2
        set_counters(verified_domain, sent=700, requested=700, delivered=700)
        assert check_upgrade(verified_domain.pk, day) == 3

    notification = Notification.objects.get()
    assert notification.cause == Notification.LEVEL_CHANGED
    assert "went up from level 1 to level 2" in notification.text
    assert len(mailoutbox) == 2


def test_a_freeze_notifies_the_members(members, verified_domain, mailoutbox, django_capture_on_commit_callbacks):
    set_counters(verified_domain, sent=400, requested=400, invalid=60, delivered=340)

    with django_capture_on_commit_callbacks(execute=True):
        freeze = check_freeze(verified_domain.account_id, platform_today())

    assert freeze is not None
    notification = Notification.objects.get(cause=Notification.ACCOUNT_FROZEN)
    assert "frozen until the end of" in notification.text
    assert {m.to[0] for m in mailoutbox} == {"alice@example.com", "bob@example.com"}


def test_the_same_cause_on_the_same_day_is_notified_once(account, owner, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.notify_members(account, Notification.BATCH_PAUSED, "task-7", "Paused", "Task 7 paused.")
        again = services.notify_members(account, Notification.BATCH_PAUSED, "task-7", "Paused", "Task 7 paused.")
        other = services.notify_members(account, Notification.BATCH_PAUSED, "task-8", "Paused", "Task 8 paused.")

    assert first is not None and again is None and other is not None
    assert len(mailoutbox) == 2


def test_a_broken_mail_relay_still_leaves_the_notification_in_the_console(
    account, owner, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2

    with django_capture_on_commit_callbacks(execute=True):
        services.notify_members(account, Notification.BATCH_PAUSED, "task-7", "Paused", "Task 7 paused.")

    assert Notification.objects.get().emailed_to == 0
