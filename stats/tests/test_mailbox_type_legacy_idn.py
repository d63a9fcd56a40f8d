"""A mailbox type the select offers is found as it is stored: rows written before non-ASCII domains
were stored as IDNA A-labels keep `bücher.example`, and choosing it must not turn it into `xn--…`
(which has no rows). The API's typed text: api/tests/test_statistics_idn.py."""

import csv
import io

import pytest

from domains.services import create_domain
from stats.tests import traffic
from stats.tests.traffic import TODAY, volume

clock = traffic.clock


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client

OLD = "bücher.example"  # a row of before the A-labels
NEW = "xn--mller-kva.example"  # müller.example, as stored now


def _traffic(account):
    domain = create_domain(account, "news.alice.example")
    volume(account, domain, OLD, TODAY, requested=3, sent=3, delivered=2, invalid=1)
    volume(account, domain, NEW, TODAY, requested=7, sent=7, delivered=7)
    volume(account, domain, "gmail.com", TODAY, requested=11, sent=11, delivered=11)
    return domain


def _csv_total(client, **filters) -> dict:
    response = client.get("/stats/export.csv", {"start": TODAY.isoformat(), "end": TODAY.isoformat(), **filters})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, total = rows[0], rows[-1]
    assert total[0] == "total"
    return dict(zip(header, total, strict=True))


def _requested(total: dict) -> str:
    return next(value for name, value in total.items() if name.lower().startswith("requested"))


def test_choosing_an_old_unicode_mailbox_type_shows_its_figures(signed_in, account):
    _traffic(account)
    page = signed_in.get("/stats/", {"start": TODAY.isoformat(), "end": TODAY.isoformat()}).content.decode()
    assert f'<option value="{OLD}">' in page  # the select offers it as stored

    for filters in ({"mailbox_type": OLD}, {"mailbox_type": OLD, "domain": "news.alice.example"}):
        response = signed_in.get("/stats/", {"start": TODAY.isoformat(), "end": TODAY.isoformat(), **filters})
        assert response.status_code == 200
        assert f'<option value="{OLD}" selected>' in response.content.decode()
        assert response.context["total"].requested == 3, filters
        assert _requested(_csv_total(signed_in, **filters)) == "3", filters

    # The A-label type and an ASCII one are found as before.
    assert _requested(_csv_total(signed_in, mailbox_type=NEW)) == "7"
    assert _requested(_csv_total(signed_in, mailbox_type="gmail.com")) == "11"


def test_a_mailbox_type_the_account_does_not_have_is_refused(signed_in, account):
    _traffic(account)
    response = signed_in.get("/stats/", {"mailbox_type": "müller.example"})  # not a choice: NEW is
    assert response.status_code == 400
    assert signed_in.get("/stats/export.csv", {"mailbox_type": "müller.example"}).status_code == 400

