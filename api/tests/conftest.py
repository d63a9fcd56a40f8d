import pytest

from accounts.models import ApiKey
from domains.models import SenderDomain


class Caller:
    """An API key of one account, and calls signed with it."""

    def __init__(self, client, key: ApiKey, secret_key: str):
        self.client = client
        self.key = key
        self.secret_id = key.secret_id
        self.secret_key = secret_key

    def __call__(self, action: str, params=None, **kwargs) -> dict:
        from api.tests.signing import call

        return call(self.client, self.secret_id, self.secret_key, action, params, **kwargs)


@pytest.fixture
def api(client, account) -> Caller:
    key, secret = ApiKey.issue(account)
    return Caller(client, key, secret)


@pytest.fixture
def other_api(client, other_account) -> Caller:
    key, secret = ApiKey.issue(other_account)
    return Caller(client, key, secret)


@pytest.fixture
def db_state(db):
    """What a request could write, as one comparable value: prove an error path wrote nothing.

    An authenticated request stamps its key's last_used_at even when the action fails (the key was
    used); test_auth proves a refused signature does not.
    """
    from domains.models import DomainDay, LevelChange

    def state() -> dict:
        return {
            "counts": {m.__name__: m.objects.count() for m in (SenderDomain, ApiKey, DomainDay, LevelChange)},
            "domains": list(SenderDomain.objects.values_list("name", "account_id", "status", "dns_results", "level")),
        }

    return state
