"""Staff admin for accounts (SPEC §5): API keys never show their secret; lifting a freeze is logged."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AccountFreeze, ApiKey, Membership, StaffActionLog

FREEZES = reverse("admin:accounts_accountfreeze_changelist")
KEYS = reverse("admin:accounts_apikey_changelist")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def freeze(account) -> AccountFreeze:
    return AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="F1", metrics={"sent": 400})


@pytest.fixture
def issued(account) -> tuple[ApiKey, str]:
    return ApiKey.issue(account)


# --- accounts -----------------------------------------------------------------------------------


def test_the_account_page_lists_its_members(staff_client, account, owner, member):
    response = staff_client.get(reverse("admin:accounts_account_change", args=[account.pk]))

    assert response.status_code == 200
    assert "alice@example.com" in response.text
    assert "bob@example.com" in response.text


def test_staff_can_rename_an_account(staff_client, account, owner):
    response = staff_client.post(
        reverse("admin:accounts_account_change", args=[account.pk]),
        {
            "name": "Alice & Co",
            "memberships-TOTAL_FORMS": 1, "memberships-INITIAL_FORMS": 1,
            "memberships-0-id": owner.membership.pk, "memberships-0-account": account.pk,
            "memberships-0-user": owner.pk, "memberships-0-role": Membership.OWNER,
            "api_keys-TOTAL_FORMS": 0, "api_keys-INITIAL_FORMS": 0,
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Alice & Co"


def test_a_customer_is_sent_to_the_admin_login(client, owner, account):
    client.force_login(owner)

    response = client.get(reverse("admin:accounts_account_change", args=[account.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- API keys -----------------------------------------------------------------------------------


def test_the_api_key_pages_never_show_the_secret_key(staff_client, account, issued):
    key, secret_key = issued

    for url in (KEYS, reverse("admin:accounts_apikey_change", args=[key.pk]),
                reverse("admin:accounts_account_change", args=[account.pk])):
        response = staff_client.get(url)
        assert response.status_code == 200
        assert key.secret_id in response.text
        assert secret_key not in response.text
        assert key.secret_key_encrypted not in response.text


def test_posting_a_secret_or_enabled_in_the_key_form_changes_nothing(staff_client, issued):
    key, secret_key = issued
    encrypted = key.secret_key_encrypted

    staff_client.post(
        reverse("admin:accounts_apikey_change", args=[key.pk]),
        {"secret_key_encrypted": "forged", "enabled": "", "secret_id": "AKIDforged", "_save": "Save"},
    )

    key.refresh_from_db()
    assert key.secret_key_encrypted == encrypted
    assert key.secret_key == secret_key
    assert key.secret_id != "AKIDforged"
    assert key.enabled


def test_staff_cannot_add_a_key_without_the_one_time_secret(staff_client):
    assert staff_client.get(reverse("admin:accounts_apikey_add")).status_code == 403


def test_disabling_and_enabling_keys_is_logged(staff_client, staff_user, issued):
    key, _ = issued

    staff_client.post(KEYS, {"action": "disable_keys", "_selected_action": [key.pk], "index": 0})
    key.refresh_from_db()
    assert not key.enabled

    staff_client.post(KEYS, {"action": "enable_keys", "_selected_action": [key.pk], "index": 0})
    key.refresh_from_db()
    assert key.enabled

    actions = list(StaffActionLog.objects.order_by("at", "pk").values_list("actor", "action", "target"))
    target = f"{key.secret_id} of account {key.account_id}"
    assert actions == [(staff_user.pk, "disable_api_key", target), (staff_user.pk, "enable_api_key", target)]


def test_disabling_a_disabled_key_logs_nothing(staff_client, issued):
    key, _ = issued
    ApiKey.objects.filter(pk=key.pk).update(enabled=False)

    staff_client.post(KEYS, {"action": "disable_keys", "_selected_action": [key.pk], "index": 0})

    assert StaffActionLog.objects.count() == 0


# --- freezes ------------------------------------------------------------------------------------


def test_choosing_lift_asks_for_a_reason_first(staff_client, freeze, account):
    response = staff_client.post(FREEZES, {"action": "lift_action", "_selected_action": [freeze.pk], "index": 0})

    assert response.status_code == 200
    assert "Why lift the freeze?" in response.text
    assert 'name="reason"' in response.text
    assert account.is_frozen()


def test_lifting_a_freeze_records_who_and_why(staff_client, staff_user, freeze, account):
    response = staff_client.post(
        FREEZES,
        {"action": "lift_action", "_selected_action": [freeze.pk], "apply": "yes",
         "reason": "Customer removed the bad list; ticket 4411"},
    )

    assert response.status_code == 302
    freeze.refresh_from_db()
    assert freeze.lifted_at is not None
    assert freeze.lifted_by == staff_user
    assert freeze.lift_reason == "Customer removed the bad list; ticket 4411"
    assert not Account.objects.get(pk=account.pk).is_frozen()
    log = StaffActionLog.objects.get()
    assert (log.actor, log.action, log.detail) == (staff_user, "lift_freeze", "Customer removed the bad list; ticket 4411")


@pytest.mark.parametrize("reason", ["", "   "])
def test_lifting_a_freeze_without_a_reason_is_refused(staff_client, freeze, account, reason):
    response = staff_client.post(
        FREEZES, {"action": "lift_action", "_selected_action": [freeze.pk], "apply": "yes", "reason": reason}
    )

    assert response.status_code == 200
    assert "This field is required." in response.text
    freeze.refresh_from_db()
    assert freeze.lifted_at is None
    assert account.is_frozen()
    assert StaffActionLog.objects.count() == 0


def test_lifting_an_already_lifted_freeze_changes_nothing(staff_client, staff_user, freeze):
    staff_client.post(
        FREEZES, {"action": "lift_action", "_selected_action": [freeze.pk], "apply": "yes", "reason": "first"}
    )
    freeze.refresh_from_db()
    first_lift = freeze.lifted_at

    staff_client.post(
        FREEZES, {"action": "lift_action", "_selected_action": [freeze.pk], "apply": "yes", "reason": "second"}
    )

    freeze.refresh_from_db()
    assert (freeze.lifted_at, freeze.lift_reason) == (first_lift, "first")
    assert StaffActionLog.objects.count() == 1
