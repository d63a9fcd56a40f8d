"""Work orders (SPEC §3): only level 20 may ask for more than 1,000,000 a day; staff decide."""

import datetime as dt

import pytest
import time_machine

from accounts.models import StaffActionLog
from domains.models import DomainDay, SenderDomain, WorkOrder
from domains.reputation.services import close_day, get_day
from domains.workorders import WorkOrderError, approve, can_file, file_work_order, reject

NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
TODAY = NOON.date()
YESTERDAY = TODAY - dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def at_noon():
    with time_machine.travel(NOON, tick=False):
        yield


def at_level(domain: SenderDomain, level: int) -> SenderDomain:
    SenderDomain.objects.filter(pk=domain.pk).update(level=level)
    domain.refresh_from_db()
    return domain


@pytest.fixture
def top_domain(verified_domain) -> SenderDomain:
    return at_level(verified_domain, 20)


# --- filing -------------------------------------------------------------------------------------


def test_a_level_20_domain_can_file_a_work_order(top_domain, owner):
    order = file_work_order(top_domain, owner, 3_000_000, "  Black Friday newsletter  ")

    assert can_file(top_domain)
    assert order.status == WorkOrder.PENDING
    assert order.requested_cap == 3_000_000
    assert order.reason == "Black Friday newsletter"
    assert order.filed_by == owner


def test_a_domain_below_level_20_cannot_file(verified_domain, owner):
    at_level(verified_domain, 19)

    with pytest.raises(WorkOrderError, match="Only a verified level-20 domain"):
        file_work_order(verified_domain, owner, 3_000_000, "more please")

    assert not can_file(verified_domain)
    assert WorkOrder.objects.count() == 0


def test_an_unverified_level_20_domain_cannot_file(top_domain, owner):
    SenderDomain.objects.filter(pk=top_domain.pk).update(status=SenderDomain.PENDING)
    top_domain.refresh_from_db()

    with pytest.raises(WorkOrderError):
        file_work_order(top_domain, owner, 3_000_000, "more please")

    assert WorkOrder.objects.count() == 0


@pytest.mark.parametrize("cap", [1_000_000, 999, 0, -5, "2000000", 2.5e6])
def test_the_requested_cap_must_be_an_integer_above_1_000_000(top_domain, owner, cap):
    with pytest.raises(WorkOrderError, match="more than 1,000,000"):
        file_work_order(top_domain, owner, cap, "more please")

    assert WorkOrder.objects.count() == 0


def test_1_000_001_is_enough(top_domain, owner):
    assert file_work_order(top_domain, owner, 1_000_001, "a little more").requested_cap == 1_000_001


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_work_order_needs_a_reason(top_domain, owner, reason):
    with pytest.raises(WorkOrderError, match="Say why"):
        file_work_order(top_domain, owner, 3_000_000, reason)

    assert WorkOrder.objects.count() == 0


def test_only_one_work_order_may_wait_at_a_time(top_domain, owner, staff_user):
    first = file_work_order(top_domain, owner, 3_000_000, "launch")

    with pytest.raises(WorkOrderError, match="already has a work order waiting"):
        file_work_order(top_domain, owner, 4_000_000, "launch, bigger")
    assert WorkOrder.objects.count() == 1

    reject(first, staff_user, "not yet")
    file_work_order(top_domain, owner, 4_000_000, "launch, again")
    assert WorkOrder.objects.count() == 2


# --- deciding -----------------------------------------------------------------------------------


def test_approval_sets_the_custom_cap_and_todays_cap_at_once(top_domain, owner, staff_user):
    today = get_day(top_domain)
    assert today.cap == 1_000_000
    order = file_work_order(top_domain, owner, 3_000_000, "launch")

    approve(order, staff_user, 2_500_000, "granted in part")

    order.refresh_from_db()
    top_domain.refresh_from_db()
    today.refresh_from_db()
    assert order.status == WorkOrder.APPROVED
    assert order.approved_cap == 2_500_000
    assert order.decided_by == staff_user
    assert order.decision_note == "granted in part"
    assert top_domain.custom_cap == 2_500_000
    assert top_domain.daily_cap == 2_500_000
    assert top_domain.level == 20
    assert today.cap == 2_500_000
    log = StaffActionLog.objects.get()
    assert (log.actor, log.action, log.target) == (staff_user, "approve_work_order", top_domain.name)
    assert "2,500,000" in log.detail


def test_approval_is_refused_when_the_domain_fell_below_level_20(top_domain, owner, staff_user):
    order = file_work_order(top_domain, owner, 3_000_000, "launch")
    at_level(top_domain, 19)
    today = get_day(top_domain)

    with pytest.raises(WorkOrderError, match="level 19"):
        approve(order, staff_user, 3_000_000)

    order.refresh_from_db()
    top_domain.refresh_from_db()
    today.refresh_from_db()
    assert order.status == WorkOrder.PENDING
    assert top_domain.custom_cap is None
    assert today.cap == 900_000
    assert StaffActionLog.objects.count() == 0


@pytest.mark.parametrize("cap", [1_000_000, 500])
def test_approval_needs_a_custom_cap_above_1_000_000(top_domain, owner, staff_user, cap):
    order = file_work_order(top_domain, owner, 3_000_000, "launch")

    with pytest.raises(WorkOrderError, match="more than 1,000,000"):
        approve(order, staff_user, cap)

    order.refresh_from_db()
    top_domain.refresh_from_db()
    assert order.status == WorkOrder.PENDING
    assert top_domain.custom_cap is None
    assert StaffActionLog.objects.count() == 0


def test_a_decided_work_order_cannot_be_decided_again(top_domain, owner, staff_user):
    order = file_work_order(top_domain, owner, 3_000_000, "launch")
    approve(order, staff_user, 3_000_000)

    with pytest.raises(WorkOrderError, match="already approved"):
        approve(order, staff_user, 5_000_000)
    with pytest.raises(WorkOrderError, match="already approved"):
        reject(order, staff_user, "changed my mind")

    top_domain.refresh_from_db()
    assert top_domain.custom_cap == 3_000_000
    assert StaffActionLog.objects.count() == 1


@pytest.mark.parametrize("note", ["", "  "])
def test_rejection_needs_a_reason(top_domain, owner, staff_user, note):
    order = file_work_order(top_domain, owner, 3_000_000, "launch")

    with pytest.raises(WorkOrderError, match="reason"):
        reject(order, staff_user, note)

    order.refresh_from_db()
    assert order.status == WorkOrder.PENDING
    assert StaffActionLog.objects.count() == 0


def test_rejection_keeps_the_reason_and_logs_it(top_domain, owner, staff_user):
    order = file_work_order(top_domain, owner, 3_000_000, "launch")

    reject(order, staff_user, " Volume history too short. ")

    order.refresh_from_db()
    top_domain.refresh_from_db()
    assert order.status == WorkOrder.REJECTED
    assert order.decision_note == "Volume history too short."
    assert top_domain.custom_cap is None
    log = StaffActionLog.objects.get()
    assert (log.actor, log.action, log.detail) == (staff_user, "reject_work_order", "Volume history too short.")


# --- losing level 20 ----------------------------------------------------------------------------


def test_falling_below_level_20_drops_the_custom_cap(top_domain, owner, staff_user):
    approve(file_work_order(top_domain, owner, 3_000_000, "launch"), staff_user, 3_000_000)
    # Yesterday ended badly: 40 of 400 invalid is 10% (> 9%, rule D1).
    DomainDay.objects.create(
        domain=top_domain, day=YESTERDAY, level=20, cap=3_000_000, requested=400, sent=400, delivered=360, invalid=40
    )
    top_domain.refresh_from_db()
    today = get_day(top_domain)
    assert today.cap == 3_000_000

    close_day(YESTERDAY)

    top_domain.refresh_from_db()
    today.refresh_from_db()
    assert top_domain.level == 19
    assert top_domain.custom_cap is None
    assert top_domain.daily_cap == 900_000
    assert today.cap == 900_000
    change = top_domain.level_changes.get()
    assert (change.from_level, change.to_level, change.rule) == (20, 19, "D1")
    assert not can_file(top_domain)


def test_a_good_day_at_level_20_keeps_the_custom_cap(top_domain, owner, staff_user):
    approve(file_work_order(top_domain, owner, 3_000_000, "launch"), staff_user, 3_000_000)
    DomainDay.objects.create(
        domain=top_domain, day=YESTERDAY, level=20, cap=3_000_000, requested=400, sent=400, delivered=398, invalid=2
    )

    close_day(YESTERDAY)

    top_domain.refresh_from_db()
    assert top_domain.level == 20
    assert top_domain.custom_cap == 3_000_000
