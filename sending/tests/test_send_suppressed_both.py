"""An address with both a blacklist row and an unsubscribe row is refused as blacklisted (send_email's
documented order: blacklist, then unsubscribe), whichever row was written first, by the PostgreSQL
statement and by the ORM path other databases use."""

import datetime as dt

import pytest
from django.utils import timezone

from sending import services
from sending.models import Suppression
from sending.services import SendError, send_email
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER, written

sender = send_fixtures.sender
template = send_fixtures.template

BOTH = "both@example.org"
ORDERS = {
    "blacklisted first": (Suppression.BLACKLIST, Suppression.UNSUBSCRIBED),
    "unsubscribed first": (Suppression.UNSUBSCRIBED, Suppression.BLACKLIST),
}


STATEMENT_ONLY = pytest.mark.postgres(reason="the single statement is PostgreSQL's")


@pytest.fixture(params=[pytest.param("statement", marks=STATEMENT_ONLY), "orm"])
def path(request, monkeypatch):
    if request.param == "orm":
        monkeypatch.setattr(services, "_admission_facts", services._facts_by_orm)
    return request.param


def suppress(account, email, reasons):
    start = timezone.now() - dt.timedelta(hours=1)
    for i, reason in enumerate(reasons):  # written (and dated) in this order
        Suppression.objects.create(account=account, email=email, reason=reason,
                                   created_at=start + dt.timedelta(minutes=i))


def refusal(account, sender, template, destinations):
    before = written(sender.domain)
    with pytest.raises(SendError) as excinfo:
        send_email(account, from_address=SENDER, destinations=destinations, template_id=template.pk,
                   template_data={"name": "Ann", "code": "1"})
    assert written(sender.domain) == before  # nothing written
    return excinfo.value


@pytest.mark.django_db
@pytest.mark.parametrize("order", ORDERS)
def test_an_address_blacklisted_and_unsubscribed_is_refused_as_blacklisted(account, sender, template, path, order):
    suppress(account, BOTH, ORDERS[order])
    error = refusal(account, sender, template, [BOTH])
    assert error.code == "FailedOperation.EmailAddrInBlacklist", (path, order, error.code)
    assert BOTH in str(error)


@pytest.mark.django_db
@pytest.mark.parametrize("order", ORDERS)
def test_the_blacklist_wins_over_another_recipients_unsubscribe(account, sender, template, path, order):
    suppress(account, BOTH, ORDERS[order])
    suppress(account, "left@example.org", [Suppression.UNSUBSCRIBED])
    error = refusal(account, sender, template, ["left@example.org", BOTH])
    assert error.code == "FailedOperation.EmailAddrInBlacklist"
    assert "left@example.org" not in str(error)


@pytest.mark.django_db
def test_an_address_only_unsubscribed_is_refused_as_unsubscribed(account, sender, template, path):
    suppress(account, "left@example.org", [Suppression.UNSUBSCRIBED])
    error = refusal(account, sender, template, ["left@example.org"])
    assert error.code == "FailedOperation.ReceiverHasUnsubscribed"


@pytest.mark.django_db
@pytest.mark.parametrize("order", ORDERS)
def test_both_paths_read_both_rows(account, sender, template, order):
    suppress(account, BOTH, ORDERS[order])
    wanted = {(BOTH, Suppression.BLACKLIST), (BOTH, Suppression.UNSUBSCRIBED)}
    assert services._admission_query.run(account, SENDER, template.pk, [BOTH]).suppressed == wanted
    assert services._facts_by_orm(account, SENDER, template.pk, [BOTH]).suppressed == wanted
