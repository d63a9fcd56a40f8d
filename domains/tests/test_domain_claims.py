"""Unverified domains do not block others (issue 12, finding 6): several accounts may claim a name, the
first to publish its own verification token owns it, the other claims are removed with a notice, and an
unverified claim expires after 7 days. Through the console, the staff paths and the periodic job."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from accounts.models import StaffActionLog
from domains.models import SenderDomain
from domains.services import ClaimRemoved, check_dns, create_domain, delete_domain, force_verify, records_for
from notify.models import Notification
from ops import periodic

NAME = "bigbank-victim.test"
CREATED = dt.datetime(2030, 3, 10, 12, 0, tzinfo=dt.UTC)


def verification_record(domain: SenderDomain):
    return next(r for r in records_for(domain) if r.kind == "VERIFICATION")


@pytest.fixture
def alices_claim(account, owner, member) -> SenderDomain:
    return create_domain(account, NAME)


@pytest.fixture
def charlies_claim(other_account, outsider) -> SenderDomain:
    return create_domain(other_account, NAME)


def claims() -> list[tuple[str, str]]:
    return sorted(SenderDomain.objects.values_list("account__name", "status"))


# --- claiming and verifying ------------------------------------------------------------------------


def test_two_accounts_may_claim_the_same_name_each_with_its_own_token(alices_claim, charlies_claim):
    assert claims() == [("Alice Co", "pending"), ("Charlie Ltd", "pending")]
    mine, theirs = verification_record(alices_claim), verification_record(charlies_claim)
    assert mine.host == theirs.host == f"_sesconsole.{NAME}"
    assert mine.value != theirs.value
    assert mine.value == f"sesconsole-verification={alices_claim.verification_token}"
    assert len(alices_claim.verification_token) == 32  # 128 random bits


def test_the_token_is_stable_for_the_life_of_the_claim(alices_claim, dns_stub):
    before = verification_record(alices_claim)
    check_dns(alices_claim)

    assert verification_record(SenderDomain.objects.get(pk=alices_claim.pk)) == before


def test_whoever_publishes_its_token_first_owns_the_name_and_the_other_claim_is_removed_with_a_notice(
    alices_claim, charlies_claim, dns_stub, mailoutbox, django_capture_on_commit_callbacks
):
    dns_stub.publish(charlies_claim)

    with django_capture_on_commit_callbacks(execute=True):
        check_dns(charlies_claim)

    assert claims() == [("Charlie Ltd", "verified")]
    notice = Notification.objects.get()
    assert (notice.account.name, notice.cause) == ("Alice Co", Notification.DOMAIN_CLAIM_LOST)
    assert notice.subject == f"{NAME} is verified by another account"
    assert "Charlie" not in notice.text  # which account won is not Alice's business
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]
    assert NAME in mailoutbox[0].subject


def test_an_account_cannot_verify_its_claim_with_another_accounts_token(alices_claim, charlies_claim, dns_stub):
    dns_stub.publish(alices_claim)
    theirs = verification_record(charlies_claim)
    dns_stub.set_txt(theirs.host, theirs.value)  # the domain's owner published Charlie's token, not Alice's

    check_dns(alices_claim)

    assert claims() == [("Alice Co", "pending"), ("Charlie Ltd", "pending")]
    result = alices_claim.dns_results["VERIFICATION"]
    assert (result["ok"], result["found"], result["error"]) == (False, [theirs.value], "published value does not match")
    assert {kind for kind, r in alices_claim.dns_results.items() if r["ok"]} == {"SPF", "DKIM", "DMARC"}


def test_both_tokens_published_verify_whoever_checks_first_and_the_other_check_finds_its_claim_gone(
    alices_claim, charlies_claim, dns_stub
):
    dns_stub.publish(alices_claim)
    mine, theirs = verification_record(alices_claim), verification_record(charlies_claim)
    dns_stub.set_txt(mine.host, mine.value, theirs.value)

    check_dns(alices_claim)
    with pytest.raises(ClaimRemoved) as removed:
        check_dns(charlies_claim)

    assert claims() == [("Alice Co", "verified")]
    assert removed.value.code == "InvalidParameterValue.CreatedByOther"


def test_a_claim_its_own_account_deleted_during_the_check_is_reported_missing_not_lost(alices_claim, dns_stub):
    SenderDomain.objects.filter(pk=alices_claim.pk).delete()  # the Delete button, while DNS was asked

    with pytest.raises(ClaimRemoved) as removed:
        check_dns(alices_claim)

    assert (removed.value.code, removed.value.message) == ("ResourceNotFound", "The sender domain does not exist.")
    assert Notification.objects.count() == 0


def test_force_verifying_a_verified_domain_removes_a_claim_that_slipped_in_beside_it(alices_claim, charlies_claim):
    SenderDomain.objects.filter(pk=alices_claim.pk).update(status=SenderDomain.VERIFIED)
    alices_claim.refresh_from_db()

    force_verify(alices_claim)

    assert claims() == [("Alice Co", "verified")]


def test_only_one_claim_per_name_can_be_verified_even_past_the_services(alices_claim, charlies_claim):
    SenderDomain.objects.filter(pk=alices_claim.pk).update(status=SenderDomain.VERIFIED)

    with pytest.raises(IntegrityError), transaction.atomic():
        SenderDomain.objects.filter(pk=charlies_claim.pk).update(status=SenderDomain.VERIFIED)


def test_one_account_cannot_claim_a_name_twice_even_past_the_services(alices_claim, account):
    with pytest.raises(IntegrityError), transaction.atomic():
        SenderDomain.objects.create(account=account, name=NAME, dkim_private_key_encrypted="x", dkim_public_key="y")


def test_a_deleted_verified_domain_frees_the_name(alices_claim, other_account, dns_stub):
    dns_stub.publish(alices_claim)
    check_dns(alices_claim)
    delete_domain(alices_claim)

    theirs = create_domain(other_account, NAME)
    dns_stub.publish(theirs)
    check_dns(theirs)

    assert claims() == [("Charlie Ltd", "verified")]


# --- expiry ----------------------------------------------------------------------------------------


def expire_job() -> str:
    return periodic.job_named("expire_domain_claims").run()


@pytest.fixture
def clock():
    with time_machine.travel(CREATED, tick=False) as traveller:
        yield traveller


def test_an_unverified_claim_is_kept_until_just_before_7_days(clock, alices_claim):
    clock.move_to(CREATED + dt.timedelta(days=7) - dt.timedelta(seconds=1))

    assert expire_job() == "no expired domain claim"
    assert claims() == [("Alice Co", "pending")]


def test_an_unverified_claim_expires_at_exactly_7_days_with_a_notice(
    clock, alices_claim, charlies_claim, mailoutbox, django_capture_on_commit_callbacks
):
    SenderDomain.objects.filter(pk=charlies_claim.pk).update(created_at=CREATED + dt.timedelta(hours=1))
    clock.move_to(CREATED + dt.timedelta(days=7))

    with django_capture_on_commit_callbacks(execute=True):
        assert expire_job() == "removed 1 expired domain claim(s)"

    assert claims() == [("Charlie Ltd", "pending")]
    notice = Notification.objects.get()
    assert (notice.account.name, notice.cause) == ("Alice Co", Notification.DOMAIN_CLAIM_EXPIRED)
    assert f"{NAME} was not verified within 7 days" in notice.text
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]


def test_failed_claims_expire_too_and_verified_domains_never(clock, alices_claim, charlies_claim, verified_domain):
    SenderDomain.objects.filter(pk=alices_claim.pk).update(status=SenderDomain.FAILED)
    clock.move_to(CREATED + dt.timedelta(days=30))

    assert expire_job() == "removed 2 expired domain claim(s)"
    assert list(SenderDomain.objects.values_list("name", flat=True)) == [verified_domain.name]


def test_a_check_at_7_days_removes_the_claim_instead_of_verifying_it(clock, alices_claim, dns_stub):
    dns_stub.publish(alices_claim)
    clock.move_to(CREATED + dt.timedelta(days=7))

    with pytest.raises(ClaimRemoved) as removed:
        check_dns(alices_claim)

    assert removed.value.reason == "expired"
    assert claims() == []
    assert dns_stub.queries == []


def test_a_stale_copy_of_a_claim_verified_meanwhile_is_checked_as_verified_not_expired(clock, alices_claim, dns_stub):
    SenderDomain.objects.filter(pk=alices_claim.pk).update(status=SenderDomain.VERIFIED)  # by another process
    clock.move_to(CREATED + dt.timedelta(days=8))

    check_dns(alices_claim)  # its copy still says pending

    assert claims() == [("Alice Co", "verified")]
    assert alices_claim.is_verified


def test_a_verified_domain_stays_verified_when_an_older_copy_of_it_fails_its_check_afterwards(
    clock, alices_claim, dns_stub
):
    jobs_copy = SenderDomain.objects.get(pk=alices_claim.pk)  # the periodic job loaded its batch
    dns_stub.publish(alices_claim)
    check_dns(alices_claim)  # meanwhile the owner clicks Check: verified
    for record in records_for(alices_claim):
        dns_stub.fail(record.host)  # then a DNS hiccup during the job's own lookup
    clock.move_to(CREATED + dt.timedelta(days=2))

    check_dns(jobs_copy)

    alices_claim.refresh_from_db()
    assert alices_claim.status == SenderDomain.VERIFIED
    assert jobs_copy.is_verified
    assert alices_claim.last_checked_at == CREATED + dt.timedelta(days=2)  # the failing lookup is still shown
    assert not alices_claim.dns_results["VERIFICATION"]["ok"]
    clock.move_to(CREATED + dt.timedelta(days=8))
    assert expire_job() == "no expired domain claim"
    assert claims() == [("Alice Co", "verified")]


def test_the_expiry_job_never_removes_a_claim_that_was_verified_once_whatever_its_status_says(clock, alices_claim):
    force_verify(alices_claim, actor_label="test")
    SenderDomain.objects.filter(pk=alices_claim.pk).update(status=SenderDomain.PENDING)  # e.g. by an older release
    clock.move_to(CREATED + dt.timedelta(days=30))

    assert expire_job() == "no expired domain claim"
    check_dns(SenderDomain.objects.get(pk=alices_claim.pk))  # nor does a check of it remove it as expired

    assert SenderDomain.objects.get(pk=alices_claim.pk).verified_at == CREATED


def test_the_expiry_job_is_registered_with_the_periodic_jobs():
    job = periodic.job_named("expire_domain_claims")
    assert job.interval <= dt.timedelta(minutes=10)


def test_a_notice_goes_out_once_per_cause_per_day(
    alices_claim, other_account, account, dns_stub, django_capture_on_commit_callbacks
):
    theirs = create_domain(other_account, NAME)
    for _ in range(2):  # Alice claims the name again after losing it, and loses it again the same day
        SenderDomain.objects.filter(pk=theirs.pk).update(status=SenderDomain.PENDING)
        theirs.refresh_from_db()
        if not SenderDomain.objects.filter(account=account).exists():
            create_domain(account, NAME)
        dns_stub.publish(theirs)
        with django_capture_on_commit_callbacks(execute=True):
            check_dns(theirs)
        assert not SenderDomain.objects.filter(account=account).exists()

    assert Notification.objects.filter(account=account, cause=Notification.DOMAIN_CLAIM_LOST).count() == 1


# --- the console ------------------------------------------------------------------------------------


def test_the_add_domain_form_creates_a_claim_on_a_name_another_account_claimed_without_saying_so(
    client, owner, charlies_claim
):
    client.force_login(owner)

    response = client.post("/domains/", {"name": NAME, "dkim_option": "0"}, follow=True)

    html = response.content.decode()
    assert response.status_code == 200
    assert f"{NAME} is created" in html
    assert "verified by another account" not in html
    assert claims() == [("Alice Co", "pending"), ("Charlie Ltd", "pending")]


def test_the_add_domain_form_refuses_a_name_another_account_verified(client, owner, charlies_claim):
    SenderDomain.objects.filter(pk=charlies_claim.pk).update(status=SenderDomain.VERIFIED)
    client.force_login(owner)

    response = client.post("/domains/", {"name": NAME.upper(), "dkim_option": "0"})

    assert response.status_code == 400
    assert f"{NAME} has been verified by another account." in response.content.decode()
    assert claims() == [("Charlie Ltd", "verified")]


def test_the_domain_page_shows_the_accounts_own_token_record_and_when_the_claim_expires(
    client, owner, alices_claim, charlies_claim
):
    client.force_login(owner)

    html = client.get(f"/domains/{alices_claim.pk}/").content.decode()

    assert f"_sesconsole.{NAME}" in html
    assert alices_claim.verification_token in html
    assert charlies_claim.verification_token not in html
    expires = (alices_claim.created_at + dt.timedelta(days=7)).strftime("%Y-%m-%d %H:%M")
    assert f"Verify it before {expires}" in html


def test_a_verified_domain_page_says_nothing_about_expiry(client, owner, verified_domain):
    client.force_login(owner)

    html = client.get(f"/domains/{verified_domain.pk}/").content.decode()

    assert 'id="claim-expiry"' not in html


@pytest.mark.parametrize("path", ["/domains/{pk}/", "/domains/{pk}/delete/"])
def test_another_accounts_claim_on_the_same_name_is_not_found(client, owner, alices_claim, charlies_claim, path):
    client.force_login(owner)

    assert client.get(path.format(pk=charlies_claim.pk)).status_code == 404
    assert client.post(f"/domains/{charlies_claim.pk}/check/").status_code == 404
    assert client.post(path.format(pk=charlies_claim.pk)).status_code in (404, 405)
    assert claims() == [("Alice Co", "pending"), ("Charlie Ltd", "pending")]


def test_check_now_on_a_claim_that_lost_the_name_says_so_on_the_domain_list(
    client, owner, alices_claim, charlies_claim, dns_stub
):
    dns_stub.publish(charlies_claim)
    SenderDomain.objects.filter(pk=charlies_claim.pk).update(status=SenderDomain.VERIFIED)  # verified meanwhile
    dns_stub.publish(alices_claim)
    client.force_login(owner)

    response = client.post(f"/domains/{alices_claim.pk}/check/", follow=True)

    assert response.redirect_chain == [("/domains/", 302)]
    assert f"{NAME} has been verified by another account; your claim on it is removed." in response.content.decode()
    assert claims() == [("Charlie Ltd", "verified")]


def test_an_htmx_check_of_an_expired_claim_sends_the_browser_to_the_domain_list(clock, client, owner, alices_claim):
    client.force_login(owner)
    clock.move_to(CREATED + dt.timedelta(days=8))

    response = client.post(f"/domains/{alices_claim.pk}/check/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/domains/"
    assert claims() == []


# --- staff: force-verify -------------------------------------------------------------------------


def run(*args) -> str:
    out = StringIO()
    call_command("verify_domains", *args, stdout=out)
    return out.getvalue()


def test_force_verify_in_admin_removes_the_other_claims_with_a_notice(
    client, staff_user, alices_claim, charlies_claim, django_capture_on_commit_callbacks
):
    client.force_login(staff_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/domains/senderdomain/",
            {"action": "force_verify_action", "_selected_action": [charlies_claim.pk], "index": 0}, follow=True,
        )

    assert "Force-verified 1 domain(s)." in response.content.decode()
    assert claims() == [("Charlie Ltd", "verified")]
    assert Notification.objects.get().account.name == "Alice Co"
    assert StaffActionLog.objects.get().target == NAME


def test_force_verify_in_admin_of_two_claims_on_one_name_verifies_the_first_and_refuses_the_second(
    client, staff_user, alices_claim, charlies_claim
):
    client.force_login(staff_user)

    response = client.post(
        "/admin/domains/senderdomain/",
        {"action": "force_verify_action", "_selected_action": [alices_claim.pk, charlies_claim.pk], "index": 0}, follow=True,
    )

    html = response.content.decode()
    assert "Force-verified 1 domain(s)." in html
    assert f"Not verified: {NAME} (account {charlies_claim.account_id})" in html
    assert claims() == [("Alice Co", "verified")]
    assert StaffActionLog.objects.count() == 1


def test_force_verify_is_refused_when_another_account_verified_the_name(alices_claim, charlies_claim):
    SenderDomain.objects.filter(pk=charlies_claim.pk).update(status=SenderDomain.VERIFIED)

    with pytest.raises(CommandError, match=f"{NAME} is verified by another account already"):
        run("--domain", NAME, "--force", "--account", str(alices_claim.account_id))

    assert claims() == [("Alice Co", "pending"), ("Charlie Ltd", "verified")]
    assert StaffActionLog.objects.count() == 0


def test_the_command_asks_whose_claim_to_force_when_several_accounts_claim_the_name(alices_claim, charlies_claim):
    with pytest.raises(CommandError, match=f"claimed by accounts {alices_claim.account_id}, {charlies_claim.account_id}"):
        run("--domain", NAME, "--force")

    assert claims() == [("Alice Co", "pending"), ("Charlie Ltd", "pending")]


def test_the_command_forces_the_named_accounts_claim_and_removes_the_others(alices_claim, charlies_claim):
    output = run("--domain", NAME, "--force", "--account", str(charlies_claim.account_id))

    assert output == f"{NAME}: verified (forced without DNS; logged)\n"
    assert claims() == [("Charlie Ltd", "verified")]


def test_the_command_checks_every_claim_on_a_name_and_reports_the_one_that_lost(alices_claim, charlies_claim, dns_stub):
    dns_stub.publish(alices_claim)

    output = run("--domain", NAME)

    assert output.splitlines() == [
        f"{NAME}: verified (all records found)",
        f"{NAME}: claim of account {charlies_claim.account_id} removed (lost)",
    ]
    assert claims() == [("Alice Co", "verified")]
