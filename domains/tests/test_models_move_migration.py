"""An older install after the models moved (issue 13): DailyVolume and its rollups now belong to
domains, the staff action log to accounts. The rows stay where they were, the new models read them,
and staff keep the admin permissions given on the moved models."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from accounts.models import StaffActionLog
from domains.models import AccountDay, DailyVolume
from domains.tests.migration_steps import latest, migrate

BEFORE = [("accounts", "0005_accepted_signature"), ("domains", "0004_claims_per_account_and_verification_token"),
          ("stats", "0004_redundant_fk_indexes")]


@pytest.fixture
def old_install(transactional_db, django_user_model):
    apps = migrate(BEFORE)
    account = apps.get_model("accounts", "Account").objects.create(name="Old Co")
    domain = apps.get_model("domains", "SenderDomain").objects.create(
        account=account, name="old.example", dkim_private_key_encrypted="x", dkim_public_key="y"
    )
    day = dt.date(2026, 11, 30)
    apps.get_model("stats", "DailyVolume").objects.create(
        account=account, domain=domain, mailbox_type="gmail.com", day=day, sent=40, delivered=38
    )
    apps.get_model("stats", "AccountDay").objects.create(account=account, day=day, sent=40, delivered=38)
    apps.get_model("domains", "StaffActionLog").objects.create(actor_label="ops", action="lift_freeze", target="Old Co")
    # What the old install's admin had: content types under the old app labels, a permission on each.
    staff = django_user_model.objects.create_user("auditor", is_staff=True)
    for label, model in (("stats", "dailyvolume"), ("domains", "staffactionlog")):
        ContentType.objects.filter(model=model).delete()
        content_type = ContentType.objects.create(app_label=label, model=model)
        staff.user_permissions.add(
            Permission.objects.create(content_type=content_type, codename=f"view_{model}", name=f"Can view {model}")
        )
    ContentType.objects.clear_cache()
    yield staff
    migrate(latest())


def test_the_rows_stay_and_staff_keep_their_permissions(old_install):
    migrate(latest())
    ContentType.objects.clear_cache()

    volume = DailyVolume.objects.get()
    assert (volume.domain.name, volume.mailbox_type, volume.sent, volume.delivered) == ("old.example", "gmail.com", 40, 38)
    assert AccountDay.objects.get().sent == 40
    assert StaffActionLog.objects.get().action == "lift_freeze"

    staff = type(old_install).objects.get(pk=old_install.pk)  # a fresh user: no permission cache
    assert staff.has_perm("domains.view_dailyvolume")
    assert staff.has_perm("accounts.view_staffactionlog")
    assert not ContentType.objects.filter(app_label="stats").exists()
