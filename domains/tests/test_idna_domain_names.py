"""A sender domain with a non-ASCII name is stored as the same A-label its addresses get."""

import pytest

from domains.models import SenderDomain
from domains.services import DomainError, create_domain, normalize_domain_name
from sending.services import create_sender_address


def test_a_unicode_domain_name_is_stored_as_its_idna_2008_a_label():
    assert normalize_domain_name("Bücher.Example") == "xn--bcher-kva.example"
    # IDNA 2008 (UTS #46, non-transitional) keeps ß: IDNA 2003 would have made it strasse.de.
    assert normalize_domain_name("straße.de") == "xn--strae-oqa.de"
    assert normalize_domain_name("mail.example.com.") == "mail.example.com"


@pytest.mark.parametrize("raw", ["☃.example", "a..example", "xn--.example", "-bad.example"])
def test_a_name_idna_refuses_gets_the_clear_error(raw):
    with pytest.raises(DomainError) as caught:
        normalize_domain_name(raw)
    assert caught.value.code == "InvalidParameterValue"


def test_an_address_on_a_unicode_domain_matches_that_domain(account):
    domain = create_domain(account, "straße.de")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED)
    address = create_sender_address(account, "news@straße.de")
    assert address.domain_id == domain.pk
    assert address.email == "news@xn--strae-oqa.de"
