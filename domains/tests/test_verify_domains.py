"""manage.py verify_domains (SPEC §7): re-check pending domains; --force --domain D, logged."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import StaffActionLog
from domains.models import SenderDomain
from domains.services import create_domain

# The dns_stub fixture; harmless once the root conftest lists the plugin too.


def run(*args) -> str:
    out = StringIO()
    call_command("verify_domains", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def pending(account) -> SenderDomain:
    return create_domain(account, "pending.alice.example")


@pytest.fixture
def unpublished(other_account) -> SenderDomain:
    return create_domain(other_account, "nothing.charlie.example")


def test_it_verifies_pending_domains_whose_records_are_published(dns_stub, pending, unpublished):
    dns_stub.publish(pending)

    output = run()

    pending.refresh_from_db()
    unpublished.refresh_from_db()
    assert pending.status == SenderDomain.VERIFIED
    assert unpublished.status == SenderDomain.PENDING
    lines = output.splitlines()
    assert "pending.alice.example: verified (all records found)" in lines
    assert (
        "nothing.charlie.example: pending (SPF no such name (NXDOMAIN); DKIM no such name (NXDOMAIN); "
        "DMARC no such name (NXDOMAIN); VERIFICATION no such name (NXDOMAIN))" in lines
    )


def test_it_rechecks_failed_domains_too(dns_stub, pending):
    SenderDomain.objects.filter(pk=pending.pk).update(status=SenderDomain.FAILED)
    dns_stub.publish(pending)

    output = run()

    pending.refresh_from_db()
    assert pending.status == SenderDomain.VERIFIED
    assert "pending.alice.example: verified" in output


def test_it_leaves_verified_domains_alone(dns_stub, verified_domain, pending):
    output = run()

    assert verified_domain.name not in output
    assert not [name for name, _ in dns_stub.queries if name.endswith(verified_domain.name)]


def test_it_checks_only_the_named_domain_whatever_its_status(dns_stub, verified_domain, pending):
    output = run("--domain", "MAIL.alice.example.")

    assert output.splitlines() == [
        "mail.alice.example: verified (SPF no such name (NXDOMAIN); DKIM no such name (NXDOMAIN); "
        "DMARC no such name (NXDOMAIN); VERIFICATION no such name (NXDOMAIN))"
    ]
    assert not [name for name, _ in dns_stub.queries if name.endswith(pending.name)]


def test_it_says_so_when_no_domain_is_waiting(dns_stub, verified_domain):
    assert run() == "No pending or failed sender domains to check.\n"
    assert dns_stub.queries == []


def test_force_marks_the_named_domain_verified_without_dns_and_logs_it(dns_stub, pending):
    output = run("--domain", "pending.alice.example", "--force")

    pending.refresh_from_db()
    assert pending.status == SenderDomain.VERIFIED
    assert pending.verified_at is not None
    assert output == "pending.alice.example: verified (forced without DNS; logged)\n"
    assert dns_stub.queries == []
    log = StaffActionLog.objects.get()
    assert log.actor is None
    assert log.actor_label == "manage.py verify_domains"
    assert log.action == "force_verify"
    assert log.target == "pending.alice.example"


def test_force_without_a_domain_is_refused_and_changes_nothing(dns_stub, pending):
    with pytest.raises(CommandError, match="--force needs --domain"):
        run("--force")

    pending.refresh_from_db()
    assert pending.status == SenderDomain.PENDING
    assert StaffActionLog.objects.count() == 0
    assert dns_stub.queries == []


@pytest.mark.parametrize("flags", [[], ["--force"]])
def test_an_unknown_domain_is_refused(dns_stub, pending, flags):
    with pytest.raises(CommandError, match="No sender domain named nowhere.example"):
        run("--domain", "nowhere.example", *flags)

    assert StaffActionLog.objects.count() == 0
    assert SenderDomain.objects.filter(status=SenderDomain.VERIFIED).count() == 0


def test_a_malformed_domain_name_is_refused(dns_stub):
    with pytest.raises(CommandError, match="is not a valid domain name"):
        run("--domain", "not a domain")
