"""Staff admin (SPEC §5): every model's pages, force-verify, work-order decisions; no level by hand."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountFreeze, ApiKey, StaffActionLog
from accounts.staff import log_staff_action
from domains.models import ClosedDay, DailyVolume, DomainDay, LevelChange, SenderDomain, WorkOrder
from domains.reputation.services import get_day
from domains.services import create_domain


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def top_domain(verified_domain) -> SenderDomain:
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=20)
    verified_domain.refresh_from_db()
    return verified_domain


@pytest.fixture
def order(top_domain, owner) -> WorkOrder:
    return WorkOrder.objects.create(domain=top_domain, requested_cap=3_000_000, reason="launch", filed_by=owner)


@pytest.fixture
def one_of_each(account, owner, verified_domain, staff_user):
    """One row of every model staff can see in admin."""
    today = timezone.localdate()
    ApiKey.issue(account)
    AccountFreeze.objects.create(account=account, day=today, rule="F1", metrics={"sent": 400})
    DomainDay.objects.create(domain=verified_domain, day=today, level=1, cap=500, sent=10)
    LevelChange.objects.create(
        domain=verified_domain, day=today, effective_at=timezone.now(), from_level=1, to_level=2, rule="U1",
        metrics={"sent": 350},
    )
    ClosedDay.objects.create(day=today - dt.timedelta(days=1))
    WorkOrder.objects.create(domain=verified_domain, requested_cap=2_000_000, reason="launch", filed_by=owner)
    log_staff_action(staff_user, "force_verify", verified_domain.name, "test")
    DailyVolume.objects.create(account=account, domain=verified_domain, mailbox_type="gmail.com", day=today, sent=10)


MODELS = [
    "accounts.Account", "accounts.Membership", "accounts.ApiKey", "accounts.AccountFreeze",
    "domains.SenderDomain", "domains.DomainDay", "domains.LevelChange", "domains.ClosedDay",
    "domains.WorkOrder", "accounts.StaffActionLog", "domains.DailyVolume",
]


@pytest.mark.parametrize("label", MODELS)
def test_the_changelist_and_change_page_of_every_model_load(staff_client, one_of_each, label):
    from django.apps import apps

    model = apps.get_model(label)
    obj = model.objects.first()

    assert staff_client.get(changelist(model)).status_code == 200
    response = staff_client.get(change(obj))
    assert response.status_code == 200
    assert str(obj) in response.text


def test_a_customer_cannot_open_admin(client, owner, verified_domain):
    client.force_login(owner)

    response = client.get(changelist(SenderDomain))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- sender domains -----------------------------------------------------------------------------


def test_force_verify_verifies_the_selected_domains_and_logs_who_did_it(staff_client, staff_user, account):
    pending = create_domain(account, "pending.alice.example")

    response = staff_client.post(
        changelist(SenderDomain), {"action": "force_verify_action", "_selected_action": [pending.pk], "index": 0}
    )

    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == SenderDomain.VERIFIED
    assert pending.verified_at is not None
    assert pending.level == 1
    log = StaffActionLog.objects.get()
    assert (log.actor, log.actor_label, log.action, log.target) == (
        staff_user, "staff@sesconsole.test", "force_verify", "pending.alice.example",
    )


def test_posting_a_level_or_custom_cap_in_the_domain_form_changes_nothing(staff_client, verified_domain):
    response = staff_client.get(change(verified_domain))
    assert 'name="level"' not in response.text
    assert 'name="custom_cap"' not in response.text

    staff_client.post(
        change(verified_domain),
        {"level": 20, "custom_cap": 5_000_000, "status": SenderDomain.PENDING, "name": "evil.example", "_save": "Save"},
    )

    verified_domain.refresh_from_db()
    assert verified_domain.level == 1
    assert verified_domain.custom_cap is None
    assert verified_domain.daily_cap == 500
    assert verified_domain.status == SenderDomain.VERIFIED
    assert verified_domain.name == "mail.alice.example"


def test_the_domain_page_never_shows_the_dkim_private_key(staff_client, verified_domain):
    response = staff_client.get(change(verified_domain))

    assert verified_domain.dkim_private_key_encrypted not in response.text
    assert "PRIVATE KEY" not in response.text
    assert verified_domain.dkim_public_key in response.text


def test_staff_cannot_add_a_domain_by_hand(staff_client):
    add_url = reverse("admin:domains_senderdomain_add")

    assert staff_client.get(add_url).status_code == 403


@pytest.mark.parametrize("model", [DomainDay, LevelChange, ClosedDay, StaffActionLog, DailyVolume, AccountFreeze])
def test_the_engines_records_are_read_only(staff_client, one_of_each, model):
    obj = model.objects.first()
    before = {f.name: getattr(obj, f.attname) for f in model._meta.concrete_fields}

    staff_client.post(change(obj), {"level": 20, "cap": 1, "sent": 0, "rule": "X", "_save": "Save"})

    obj.refresh_from_db()
    assert {f.name: getattr(obj, f.attname) for f in model._meta.concrete_fields} == before
    opts = model._meta
    assert staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 403
    assert staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[obj.pk])).status_code == 403


# --- work orders --------------------------------------------------------------------------------


def approve_post(client, order, **data):
    return client.post(
        changelist(WorkOrder), {"action": "approve_action", "_selected_action": [order.pk], "apply": "yes", **data}
    )


def test_choosing_approve_asks_for_the_cap_first(staff_client, order):
    response = staff_client.post(
        changelist(WorkOrder), {"action": "approve_action", "_selected_action": [order.pk], "index": 0}
    )

    assert response.status_code == 200
    assert "Approve a work order" in response.text
    assert 'name="cap"' in response.text
    assert 'value="3000000"' in response.text  # the requested cap, as a starting point
    order.refresh_from_db()
    assert order.status == WorkOrder.PENDING


def test_approving_sets_the_custom_cap_and_todays_cap(staff_client, staff_user, order, top_domain):
    today = get_day(top_domain)

    response = approve_post(staff_client, order, cap="2500000", note="enjoy")

    assert response.status_code == 302
    order.refresh_from_db()
    top_domain.refresh_from_db()
    today.refresh_from_db()
    assert order.status == WorkOrder.APPROVED
    assert order.approved_cap == 2_500_000
    assert order.decided_by == staff_user
    assert top_domain.custom_cap == 2_500_000
    assert today.cap == 2_500_000
    log = StaffActionLog.objects.get()
    assert (log.actor, log.action, log.target) == (staff_user, "approve_work_order", top_domain.name)


def test_approving_below_level_20_is_refused_with_a_clear_error_and_changes_nothing(staff_client, order, top_domain):
    SenderDomain.objects.filter(pk=top_domain.pk).update(level=19)
    top_domain.refresh_from_db()
    today = get_day(top_domain)

    response = approve_post(staff_client, order, cap="2500000")

    assert response.status_code == 200
    assert "mail.alice.example is at level 19: a custom cap exists only at level 20." in response.text
    order.refresh_from_db()
    top_domain.refresh_from_db()
    today.refresh_from_db()
    assert order.status == WorkOrder.PENDING
    assert top_domain.custom_cap is None
    assert today.cap == 900_000
    assert StaffActionLog.objects.count() == 0


@pytest.mark.parametrize("cap", ["1000000", "12", ""])
def test_approving_needs_a_cap_above_1_000_000(staff_client, order, top_domain, cap):
    response = approve_post(staff_client, order, cap=cap)

    assert response.status_code == 200
    assert "The custom cap must be more than 1,000,000." in response.text or "This field is required." in response.text
    order.refresh_from_db()
    top_domain.refresh_from_db()
    assert order.status == WorkOrder.PENDING
    assert top_domain.custom_cap is None
    assert StaffActionLog.objects.count() == 0


def test_approving_two_orders_at_once_is_refused(staff_client, order, account, owner):
    other = create_domain(account, "other.alice.example")
    SenderDomain.objects.filter(pk=other.pk).update(level=20, status=SenderDomain.VERIFIED)
    second = WorkOrder.objects.create(domain=other, requested_cap=2_000_000, reason="too", filed_by=owner)

    response = staff_client.post(
        changelist(WorkOrder),
        {"action": "approve_action", "_selected_action": [order.pk, second.pk], "apply": "yes", "cap": "2000000"},
        follow=True,
    )

    assert "Select exactly one work order to approve" in response.text
    assert WorkOrder.objects.filter(status=WorkOrder.PENDING).count() == 2
    assert StaffActionLog.objects.count() == 0


def test_rejecting_needs_a_reason(staff_client, order):
    response = staff_client.post(
        changelist(WorkOrder), {"action": "reject_action", "_selected_action": [order.pk], "apply": "yes", "note": "  "}
    )

    assert response.status_code == 200
    assert "This field is required." in response.text
    order.refresh_from_db()
    assert order.status == WorkOrder.PENDING
    assert StaffActionLog.objects.count() == 0


def test_rejecting_keeps_the_reason_and_logs_it(staff_client, staff_user, order, top_domain):
    response = staff_client.post(
        changelist(WorkOrder),
        {"action": "reject_action", "_selected_action": [order.pk], "apply": "yes", "note": "History too short"},
    )

    assert response.status_code == 302
    order.refresh_from_db()
    top_domain.refresh_from_db()
    assert order.status == WorkOrder.REJECTED
    assert order.decision_note == "History too short"
    assert order.decided_by == staff_user
    assert top_domain.custom_cap is None
    log = StaffActionLog.objects.get()
    assert (log.actor, log.action, log.detail) == (staff_user, "reject_work_order", "History too short")


def test_a_decided_order_cannot_be_decided_again_from_admin(staff_client, order, top_domain):
    approve_post(staff_client, order, cap="2000000")

    response = approve_post(staff_client, order, cap="9000000")

    assert "This work order is already approved." in response.text
    top_domain.refresh_from_db()
    assert top_domain.custom_cap == 2_000_000

