"""manage.py create_account and create_api_key (SPEC §7)."""

import json
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Account, ApiKey, Membership
from accounts.services import AccountError, create_account

User = get_user_model()


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def counts() -> tuple[int, int, int]:
    return Account.objects.count(), User.objects.count(), Membership.objects.count()


# --- create_account -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_account_prints_the_new_account_id_as_the_last_word(client):
    output = run("create_account", "Dora Mail", "--owner", "dora@example.org")

    account = Account.objects.get(pk=int(output.split()[-1]))
    assert account.name == "Dora Mail"
    membership = account.memberships.get()
    assert membership.role == Membership.OWNER
    assert membership.user.username == "dora@example.org"
    assert membership.user.email == "dora@example.org"
    assert not membership.user.is_staff
    # The printed password lets the owner sign in.
    password = re.search(r"password: (\S+?);", output).group(1)
    assert client.login(username="dora@example.org", password=password)


@pytest.mark.django_db
def test_every_account_gets_its_own_generated_password():
    _, _, first = create_account("One", "one@example.org")
    _, _, second = create_account("Two", "two@example.org")

    assert first != second
    assert len(first) >= 12


@pytest.mark.parametrize(
    ("name", "email", "message"),
    [
        ("   ", "dora@example.org", "Give the account a name"),
        ("x" * 201, "dora@example.org", "too long"),
        ("Dora Mail", "not-an-email", "not a valid email address"),
        ("Dora Mail", "", "not a valid email address"),
    ],
)
def test_create_account_refuses_bad_input_and_writes_nothing(db, name, email, message):
    before = counts()

    with pytest.raises(CommandError, match=message):
        run("create_account", name, "--owner", email)

    assert counts() == before


def test_create_account_refuses_an_email_that_already_has_a_user(owner):
    before = counts()

    with pytest.raises(CommandError, match="already exists"):
        run("create_account", "Second Alice", "--owner", "Alice@Example.com")

    assert counts() == before


@pytest.mark.django_db
def test_create_account_needs_an_owner():
    with pytest.raises(CommandError, match="--owner"):
        run("create_account", "Nobody Inc")

    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_the_service_refuses_a_name_of_exactly_201_characters_but_takes_200():
    with pytest.raises(AccountError):
        create_account("y" * 201, "a@example.org")
    account, _, _ = create_account("y" * 200, "a@example.org")
    assert len(account.name) == 200


# --- create_api_key -----------------------------------------------------------------------------


def test_create_api_key_prints_a_working_secret_id_and_secret_key(account):
    output = run("create_api_key", str(account.pk))

    key = ApiKey.objects.get()
    assert key.account == account
    assert key.enabled
    assert f"SecretId:  {key.secret_id}" in output.splitlines()
    assert f"SecretKey: {key.secret_key}" in output.splitlines()
    # Stored encrypted, never as given.
    assert key.secret_key not in key.secret_key_encrypted


def test_create_api_key_with_json_prints_only_the_pair(account):
    output = run("create_api_key", str(account.pk), "--json")

    key = ApiKey.objects.get()
    assert json.loads(output) == {"SecretId": key.secret_id, "SecretKey": key.secret_key}
    assert output.strip().startswith("{") and output.strip().endswith("}")
    assert len(output.strip().splitlines()) == 1


def test_each_call_issues_a_new_key(account):
    first = json.loads(run("create_api_key", str(account.pk), "--json"))
    second = json.loads(run("create_api_key", str(account.pk), "--json"))

    assert first["SecretId"] != second["SecretId"]
    assert first["SecretKey"] != second["SecretKey"]
    assert account.api_keys.count() == 2


@pytest.mark.parametrize("account_id", ["999999", "abc", "-1", ""])
def test_create_api_key_refuses_an_unknown_account_and_writes_nothing(account, account_id):
    with pytest.raises(CommandError, match="No account with id"):
        run("create_api_key", account_id, "--json")

    assert ApiKey.objects.count() == 0


def test_a_created_account_can_get_a_key_by_the_printed_id(db):
    account_id = run("create_account", "Eve Ltd", "--owner", "eve@example.org").split()[-1]

    pair = json.loads(run("create_api_key", account_id, "--json"))

    assert ApiKey.objects.get(secret_id=pair["SecretId"]).account.name == "Eve Ltd"
