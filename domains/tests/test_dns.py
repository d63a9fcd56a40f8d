"""DNS verification through dnspython's real resolver, asking a local DNS server (tests.dnsstub)."""

import base64
import datetime as dt

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization

from domains.models import SenderDomain
from domains.services import check_dns, create_domain, dkim_private_key, records_for

# The dns_stub fixture; harmless once the root conftest lists the plugin too.

SPF_OK = "v=spf1 include:_spf.sesconsole.invalid ~all"


def hosts(domain: SenderDomain) -> dict[str, str]:
    return {r.kind: r.host for r in records_for(domain)}


@pytest.fixture
def domain(account) -> SenderDomain:
    return create_domain(account, "mail.alice.example")


def test_a_domain_with_all_four_records_published_is_verified_at_level_1(dns_stub, domain):
    dns_stub.publish(domain)

    check_dns(domain)

    domain.refresh_from_db()
    assert domain.status == SenderDomain.VERIFIED
    assert domain.level == 1
    assert domain.daily_cap == 500
    assert domain.verified_at is not None
    assert domain.verified_at == domain.last_checked_at
    assert {kind: result["ok"] for kind, result in domain.dns_results.items()} == {
        "SPF": True, "DKIM": True, "DMARC": True, "VERIFICATION": True,
    }
    # The answers came from the DNS server over the wire, not from a shortcut.
    assert {name for name, _ in dns_stub.queries} == set(hosts(domain).values())


def test_a_missing_dkim_record_leaves_the_domain_unverified_with_the_dkim_error(dns_stub, domain):
    dns_stub.publish(domain)
    dns_stub.remove(hosts(domain)["DKIM"])

    check_dns(domain)

    domain.refresh_from_db()
    assert domain.status == SenderDomain.PENDING
    assert domain.verified_at is None
    assert domain.dns_results["DKIM"]["ok"] is False
    assert domain.dns_results["DKIM"]["error"] == "no such name (NXDOMAIN)"
    assert domain.dns_results["SPF"]["ok"] is True
    assert domain.dns_results["DMARC"]["ok"] is True


def test_an_spf_record_with_the_wrong_include_does_not_verify(dns_stub, domain):
    dns_stub.publish(domain)
    dns_stub.set_txt(domain.name, "v=spf1 include:_spf.google.com ~all")

    check_dns(domain)

    domain.refresh_from_db()
    assert domain.status == SenderDomain.PENDING
    assert domain.dns_results["SPF"]["ok"] is False
    assert domain.dns_results["SPF"]["found"] == ["v=spf1 include:_spf.google.com ~all"]
    assert domain.dns_results["SPF"]["error"] == "published value does not match"


def test_the_spf_record_is_found_among_other_txt_records_of_the_domain(dns_stub, domain):
    dns_stub.publish(domain)
    dns_stub.set_txt(domain.name, "google-site-verification=abc123", SPF_OK)

    check_dns(domain)

    assert domain.status == SenderDomain.VERIFIED


def test_a_2048_bit_dkim_key_published_as_several_strings_still_matches(dns_stub, account):
    domain = create_domain(account, "big.alice.example", dkim_option=1)
    dns_stub.publish(domain)
    published = dns_stub.records[hosts(domain)["DKIM"]]
    assert len(published) == 1 and len(published[0]) > 1  # split at 255 bytes, as a zone file does

    check_dns(domain)

    assert domain.status == SenderDomain.VERIFIED
    assert domain.dns_results["DKIM"]["ok"] is True


def test_a_dkim_value_split_at_arbitrary_points_and_with_spaces_in_p_still_matches(dns_stub, domain):
    dns_stub.publish(domain)
    key = domain.dkim_public_key
    dns_stub.set_txt(hosts(domain)["DKIM"], ("v=DKIM1; k=rsa; ", "p=" + key[:100], " " + key[100:]))

    check_dns(domain)

    assert domain.dns_results["DKIM"]["ok"] is True
    assert domain.status == SenderDomain.VERIFIED


def test_a_dkim_record_with_another_key_does_not_match(dns_stub, account, domain):
    other = create_domain(account, "other.alice.example")
    dns_stub.publish(domain)
    dns_stub.set_txt(hosts(domain)["DKIM"], f"v=DKIM1; k=rsa; p={other.dkim_public_key}")

    check_dns(domain)

    assert domain.status == SenderDomain.PENDING
    assert domain.dns_results["DKIM"]["error"] == "published value does not match"


def test_nothing_published_reports_nxdomain_for_every_record(dns_stub, domain):
    check_dns(domain)

    assert {kind: r["error"] for kind, r in domain.dns_results.items()} == {
        "SPF": "no such name (NXDOMAIN)",
        "DKIM": "no such name (NXDOMAIN)",
        "DMARC": "no such name (NXDOMAIN)",
        "VERIFICATION": "no such name (NXDOMAIN)",
    }
    assert domain.status == SenderDomain.PENDING


def test_a_server_failure_is_reported_as_servfail(dns_stub, domain):
    dns_stub.publish(domain)
    dns_stub.fail(hosts(domain)["DMARC"])

    check_dns(domain)

    assert domain.status == SenderDomain.PENDING
    assert domain.dns_results["DMARC"]["ok"] is False
    assert "SERVFAIL" in domain.dns_results["DMARC"]["error"]


def test_a_verified_domain_whose_later_check_fails_stays_verified_but_shows_the_failure(dns_stub, domain):
    dns_stub.publish(domain)
    check_dns(domain)
    verified_at = domain.verified_at
    dns_stub.remove(hosts(domain)["DKIM"])

    check_dns(domain)

    domain.refresh_from_db()
    assert domain.status == SenderDomain.VERIFIED
    assert domain.verified_at == verified_at
    assert domain.dns_results["DKIM"]["ok"] is False
    assert domain.dns_results["DKIM"]["error"] == "no such name (NXDOMAIN)"
    assert domain.last_checked_at > verified_at


def test_a_domain_still_failing_after_its_first_day_is_marked_failed(dns_stub, domain):
    with time_machine.travel(domain.created_at + dt.timedelta(days=2)):
        check_dns(domain)

    domain.refresh_from_db()
    assert domain.status == SenderDomain.FAILED


@pytest.mark.parametrize(("dkim_option", "bits"), [(0, 1024), (1, 2048)])
def test_the_dkim_option_chooses_the_key_size(account, dkim_option, bits):
    domain = create_domain(account, "keys.alice.example", dkim_option=dkim_option)

    public = serialization.load_der_public_key(base64.b64decode(domain.dkim_public_key))
    private = serialization.load_pem_private_key(dkim_private_key(domain).encode(), password=None)
    assert domain.dkim_bits == bits
    assert public.key_size == bits
    assert private.key_size == bits
    assert private.public_key().public_numbers() == public.public_numbers()
    # The private key is stored encrypted, never as PEM text.
    assert "PRIVATE KEY" not in domain.dkim_private_key_encrypted
