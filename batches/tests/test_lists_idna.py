"""Recipient lists and internationalised addresses: a non-ASCII domain is stored as its IDNA A-label
(so a list never holds the same mailbox twice, once per spelling), a non-ASCII local part is a
refused row (CSV, with its line) or a refused call (API), since SMTPUTF8 is not offered."""

import io
import json

import pytest

from accounts.models import ApiKey
from api.tests.conftest import Caller
from api.tests.signing import error_code
from batches.lists import importer
from batches.lists import services as list_services
from batches.lists.services import ListError
from batches.models import Receiver, ReceiverListError

BUECHER = "xn--bcher-kva.example"


@pytest.fixture
def rl(account):
    return list_services.create_list(account, "Newsletter", "monthly")


def test_a_csv_stores_a_non_ascii_domain_as_its_a_label_and_refuses_a_non_ascii_local_part(rl):
    csv = (
        "email,name\n"
        "Ann@Bücher.example,Ann\n"          # line 2: loads as its A-label
        f"ann@{BUECHER},Ann again\n"        # line 3: the same mailbox spelled in ASCII: a duplicate
        "jörg@example.org,Jörg\n"           # line 4: no ASCII form
        "cy@☃.example,Cy\n"                 # line 5: IDNA refuses the domain
        "dan@mail.bücher。example,Dan\n"    # line 6: the ideographic full stop is a dot
    )
    result = importer.import_csv(rl, io.BytesIO(csv.encode()))
    rl.refresh_from_db()
    assert (result.loaded, result.duplicates, result.invalid) == (2, 1, 2)
    assert (rl.count, rl.duplicate_count, rl.invalid_count) == (2, 1, 2)
    assert list(Receiver.objects.filter(receiver_list=rl).values_list("email", "template_data")) == [
        (f"ann@{BUECHER}", {"name": "Ann"}), (f"dan@mail.{BUECHER}", {"name": "Dan"}),
    ]
    assert list(ReceiverListError.objects.filter(receiver_list=rl).values_list("line", "reason")) == [
        (4, "“jörg@example.org” is not a valid email address"),
        (5, "“cy@☃.example” is not a valid email address"),
    ]


def test_the_api_adds_a_non_ascii_domain_as_its_a_label_and_refuses_a_non_ascii_local_part(rl):
    with pytest.raises(ListError) as refused:
        importer.add_receivers(rl, [("ann@bücher.example", {}), ("jörg@example.org", {})])
    assert refused.value.code == "InvalidParameterValue.ReceiverEmailInvalid"
    assert "Recipient 2" in refused.value.message
    assert not Receiver.objects.filter(receiver_list=rl).exists()

    result = importer.add_receivers(rl, [("ann@bücher.example", {}), (f"ANN@{BUECHER}", {})])
    assert (result.loaded, result.duplicates) == (1, 1)
    assert list(Receiver.objects.filter(receiver_list=rl).values_list("email", flat=True)) == [f"ann@{BUECHER}"]


def test_create_receiver_detail_over_the_api(client, account, rl):
    key, secret = ApiKey.issue(account)
    api = Caller(client, key, secret)
    refused = api("CreateReceiverDetail", {"ReceiverId": rl.pk, "Emails": ["jörg@example.org"]})
    assert error_code(refused) == "InvalidParameterValue.ReceiverEmailInvalid", json.dumps(refused)
    accepted = api("CreateReceiverDetail", {"ReceiverId": rl.pk, "Emails": ["ann@bücher.example"]})
    assert error_code(accepted) is None, json.dumps(accepted)
    assert list(Receiver.objects.filter(receiver_list=rl).values_list("email", flat=True)) == [f"ann@{BUECHER}"]


def test_the_migration_stores_older_non_ascii_domains_as_a_labels(rl, account):
    """Rows admitted before the A-label conversion: rewritten in place, unless the list holds that
    mailbox already or there is no A-label."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("batches.migrations.0002_receiver_domains_as_a_labels")
    other = list_services.create_list(account, "Other")
    ann = Receiver.objects.create(receiver_list=rl, email="ann@bücher.example", template_data={"n": "1"})
    Receiver.objects.create(receiver_list=rl, email=f"bob@{BUECHER}")
    bob = Receiver.objects.create(receiver_list=rl, email="bob@bücher.example")  # the same mailbox twice
    cy = Receiver.objects.create(receiver_list=rl, email="cy@☃.example")  # no IDNA 2008 A-label
    dan = Receiver.objects.create(receiver_list=other, email="bob@bücher.example")
    plain = Receiver.objects.create(receiver_list=rl, email="eve@example.com")

    migration.forwards(apps, None)

    def email(receiver):
        receiver.refresh_from_db()
        return receiver.email

    assert email(ann) == f"ann@{BUECHER}" and ann.template_data == {"n": "1"}
    assert email(bob) == "bob@bücher.example"
    assert email(cy) == "cy@☃.example"
    assert email(dan) == f"bob@{BUECHER}"
    assert email(plain) == "eve@example.com"
    migration.forwards(apps, None)  # run again: nothing changes
    assert email(ann) == f"ann@{BUECHER}" and email(bob) == "bob@bücher.example"
