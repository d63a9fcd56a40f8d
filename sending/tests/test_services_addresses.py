"""Sender addresses: only on the account's verified domains, unique, at most SES_MAX_SENDER_ADDRESSES."""

import pytest

from domains.models import SenderDomain
from domains.services import create_domain
from sending.models import SenderAddress
from sending.services import SendError, create_sender_address, delete_sender_address


def refused(call) -> SendError:
    before = SenderAddress.objects.count()
    with pytest.raises(SendError) as excinfo:
        call()
    assert SenderAddress.objects.count() == before
    return excinfo.value


def test_it_creates_an_address_with_a_display_name_on_a_verified_domain(verified_domain):
    address = create_sender_address(verified_domain.account, " News@Mail.Alice.Example ", "Alice News")

    assert (address.email, address.display_name, address.domain) == ("news@mail.alice.example", "Alice News", verified_domain)
    assert str(address) == "Alice News <news@mail.alice.example>"


def test_it_refuses_an_address_on_a_domain_the_account_does_not_have(verified_domain):
    error = refused(lambda: create_sender_address(verified_domain.account, "news@elsewhere.example"))
    assert error.code == "InvalidParameterValue.NotExistDomain"


def test_it_refuses_an_address_on_another_accounts_domain_as_if_it_did_not_exist(account, other_account):
    theirs = create_domain(other_account, "mail.charlie.example")
    SenderDomain.objects.filter(pk=theirs.pk).update(status=SenderDomain.VERIFIED)

    error = refused(lambda: create_sender_address(account, "ceo@mail.charlie.example"))

    assert error.code == "InvalidParameterValue.NotExistDomain"


def test_it_refuses_an_address_on_a_domain_not_verified_yet(account):
    create_domain(account, "pending.alice.example")
    error = refused(lambda: create_sender_address(account, "news@pending.alice.example"))
    assert error.code == "OperationDenied.DomainNotVerified"


def test_it_refuses_the_same_address_twice(verified_domain):
    create_sender_address(verified_domain.account, "news@mail.alice.example")
    error = refused(lambda: create_sender_address(verified_domain.account, "NEWS@mail.alice.example"))
    assert error.code == "InvalidParameterValue.RepeatEmailAddress"


@pytest.mark.parametrize("raw", ["not an address", "news@", "@mail.alice.example", "a b@mail.alice.example"])
def test_it_refuses_bad_syntax(verified_domain, raw):
    error = refused(lambda: create_sender_address(verified_domain.account, raw))
    assert error.code == "InvalidParameterValue.IllegalEmailAddress"


@pytest.mark.parametrize("name", ["Alice: News", "Alice <x>", "Alice\nBcc: x", "x" * 101])
def test_it_refuses_a_display_name_that_would_break_the_from_header(verified_domain, name):
    error = refused(lambda: create_sender_address(verified_domain.account, "news@mail.alice.example", name))
    assert error.code == "InvalidParameterValue.IllegalSenderName"


def test_it_allows_ten_addresses_by_default_and_refuses_the_eleventh(verified_domain):
    for n in range(10):
        create_sender_address(verified_domain.account, f"n{n}@mail.alice.example")

    error = refused(lambda: create_sender_address(verified_domain.account, "n10@mail.alice.example"))

    assert error.code == "OperationDenied.ExceedSenderLimit"
    assert "10" in error.message


def test_the_limit_is_a_setting(verified_domain, settings):
    settings.SES_MAX_SENDER_ADDRESSES = 1
    create_sender_address(verified_domain.account, "one@mail.alice.example")
    assert refused(lambda: create_sender_address(verified_domain.account, "two@mail.alice.example")).code == (
        "OperationDenied.ExceedSenderLimit"
    )


def test_deleting_another_accounts_address_is_not_found_and_keeps_it(verified_domain, other_account):
    create_sender_address(verified_domain.account, "news@mail.alice.example")

    error = refused(lambda: delete_sender_address(other_account, "news@mail.alice.example"))

    assert error.code == "InvalidParameterValue.NoSuchSender"


def test_deleting_an_address_removes_it(verified_domain):
    create_sender_address(verified_domain.account, "news@mail.alice.example")
    delete_sender_address(verified_domain.account, "News@mail.alice.example")
    assert not SenderAddress.objects.exists()
