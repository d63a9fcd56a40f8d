"""Control characters and NUL from a CSV never reach a stored reason or upload error: PostgreSQL
refuses NUL in text, and the import task used to crash there, leaving the list "uploading" for ever.
Found by tests/resilience/test_bad_input_csv.py."""

import io

import pytest

from batches.lists import importer
from batches.lists import services as list_services
from batches.models import Receiver, ReceiverList, ReceiverListError


@pytest.fixture
def rl(account):
    return list_services.create_list(account, "Newsletter")


def test_an_address_with_a_nul_is_listed_as_refused_and_the_import_finishes(rl):
    result = importer.import_csv(rl, io.BytesIO(b"a\x00b@example.com\nann@example.com\n"))

    rl.refresh_from_db()
    assert (result.loaded, result.invalid) == (1, 1)
    assert rl.status == ReceiverList.DONE
    assert list(Receiver.objects.filter(receiver_list=rl).values_list("email", flat=True)) == ["ann@example.com"]
    [error] = ReceiverListError.objects.filter(receiver_list=rl)
    assert error.line == 1
    assert "\x00" not in error.reason and "not a valid email address" in error.reason


def test_a_header_with_a_nul_refuses_the_file_with_a_readable_error(rl):
    importer.import_csv(rl, io.BytesIO(b"email,na\x00me\nann@example.com,Ann\n"))

    rl.refresh_from_db()
    assert rl.status == ReceiverList.DONE
    assert "\x00" not in rl.upload_error and "is not a variable name" in rl.upload_error
    assert not Receiver.objects.filter(receiver_list=rl).exists()
