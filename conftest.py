"""Shared fixtures: an owner, a member of the same account, and an outsider from another account."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.models import Account, Membership

pytest_plugins = ["tests.dnsstub", "tests.smtpsink"]

# Live-server threads would otherwise keep their PostgreSQL connections open past the last test,
# and the test database could not be dropped.
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


def pytest_runtest_setup(item):
    """A test marked `postgres(reason=...)` runs on PostgreSQL only: elsewhere (the embedded SQLite run
    of a developer's machine) it is skipped, and in CI, which runs the suite on PostgreSQL, it fails."""
    marker = item.get_closest_marker("postgres")
    if marker is None:
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        from tests.needs import missing

        missing(f"PostgreSQL ({marker.kwargs.get('reason', 'a server database')}; set DATABASE_URL)")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashing costs ~0.3 s per user; the tests are about accounts, not about PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def simulator_counts(settings):
    """Mail to the mailbox simulator counts for reputation, as in the demo (SPEC §4.4; off by default).

    For tests that rehearse levels, freezes or statistics with simulator mail: they say so with
    `pytestmark = pytest.mark.usefixtures("simulator_counts")` or by asking for this fixture."""
    settings.SES_SIMULATOR_COUNTS_FOR_REPUTATION = True


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(monkeypatch):
    # The rate-limit counters live in the cache, which outlives a test (Redis in CI) and is never
    # cleared (it may be the broker's database): each test counts in a namespace of its own.
    import uuid

    from accounts import ratelimit

    monkeypatch.setattr(ratelimit, "namespace", f"rl-test-{uuid.uuid4().hex[:12]}")


def make_member(account: Account, email: str, role: str = Membership.MEMBER, password: str = "correct horse 42"):
    user = get_user_model().objects.create_user(username=email, email=email, password=password)
    Membership.objects.create(account=account, user=user, role=role)
    return user


@pytest.fixture
def account(db) -> Account:
    return Account.objects.create(name="Alice Co")


@pytest.fixture
def owner(account):
    return make_member(account, "alice@example.com", Membership.OWNER)


@pytest.fixture
def member(account):
    return make_member(account, "bob@example.com")


@pytest.fixture
def other_account(db) -> Account:
    return Account.objects.create(name="Charlie Ltd")


@pytest.fixture
def outsider(other_account):
    return make_member(other_account, "charlie@example.net", Membership.OWNER)


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_superuser("staff@sesconsole.test", "staff@sesconsole.test", "staff pass 42")


@pytest.fixture
def verified_domain(account):
    """A verified level-1 sender domain of `account` (DKIM 1024 to keep key generation quick)."""
    from domains.models import SenderDomain
    from domains.services import create_domain

    domain = create_domain(account, "mail.alice.example")
    domain.status = SenderDomain.VERIFIED
    domain.save(update_fields=["status"])
    return domain
