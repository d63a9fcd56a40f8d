"""The SecretId lookup every signed request makes: the ORM's answer, from SQL written once."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiKey
from api.auth import enabled_key


def test_it_finds_the_enabled_key_with_its_account_in_one_query(account, other_account):
    key, secret = ApiKey.issue(account)
    ApiKey.issue(other_account)
    with CaptureQueriesContext(connection) as captured:
        found = enabled_key(key.secret_id)
        assert found.account.name == "Alice Co"
    assert len(captured.captured_queries) == 1
    expected = ApiKey.objects.select_related("account").get(pk=key.pk)
    assert [getattr(found, f.attname) for f in ApiKey._meta.concrete_fields] == [
        getattr(expected, f.attname) for f in ApiKey._meta.concrete_fields
    ]
    assert found.account == account and found.account.created_at == expected.account.created_at
    assert found.secret_key == secret
    assert not found._state.adding and found._state.db == "default"


def test_a_disabled_or_unknown_secret_id_finds_nothing(account):
    key, _secret = ApiKey.issue(account)
    assert enabled_key("AKIDnobody") is None
    assert enabled_key("") is None
    ApiKey.objects.filter(pk=key.pk).update(enabled=False)
    assert enabled_key(key.secret_id) is None


def test_a_found_key_can_be_saved_like_any_other(account):
    key, _secret = ApiKey.issue(account)
    found = enabled_key(key.secret_id)
    found.enabled = False
    found.save(update_fields=["enabled"])
    assert ApiKey.objects.get(pk=key.pk).enabled is False
