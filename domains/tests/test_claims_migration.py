"""An older install's domains after the migration that lets several accounts claim a name (issue 12,
finding 6): each row gets its own token, and a domain verified before keeps working."""

import pytest

from accounts.models import Account
from domains.models import SenderDomain
from domains.services import DomainError, check_dns, create_domain
from domains.tests.migration_steps import latest, migrate

BEFORE = [("domains", "0003_day_counts_simulated_mail")]


@pytest.fixture
def old_install(transactional_db):
    apps = migrate(BEFORE)
    OldAccount = apps.get_model("accounts", "Account")
    Domain = apps.get_model("domains", "SenderDomain")
    account = OldAccount.objects.create(name="Old Co")
    common = {"account": account, "dkim_private_key_encrypted": "x", "dkim_public_key": "y"}
    Domain.objects.create(name="old.example", status="verified", level=7, **common)
    Domain.objects.create(name="waiting.example", status="pending", **common)
    yield account
    migrate(latest())


def test_every_existing_row_gets_its_own_token_and_keeps_its_status(old_install):
    migrate(latest())

    rows = {d.name: d for d in SenderDomain.objects.all()}
    assert {name: (d.status, d.level) for name, d in rows.items()} == {
        "old.example": ("verified", 7), "waiting.example": ("pending", 1),
    }
    tokens = [d.verification_token for d in rows.values()]
    assert all(len(t) == 32 for t in tokens) and len(set(tokens)) == 2


def test_a_domain_verified_before_stays_verified_without_the_new_record_and_keeps_its_name(old_install, dns_stub):
    migrate(latest())
    old = SenderDomain.objects.get(name="old.example")

    check_dns(old)  # nothing published at all: a DNS hiccup, or the record never added

    old.refresh_from_db()
    assert old.status == SenderDomain.VERIFIED
    assert old.dns_results["VERIFICATION"]["ok"] is False
    newcomer = Account.objects.create(name="Newcomer")
    with pytest.raises(DomainError, match="has been verified by another account"):
        create_domain(newcomer, "old.example")
