"""The in-memory duplicate check of a list import is bounded: past MAX_SEEN_ADDRESSES hashes the
import checks the rest of the file against the list's unique index, and the counts a user sees
(loaded, duplicates, refused) stay exact."""

import io

import pytest
from django.db import connection

from batches.lists import importer
from batches.lists import services as list_services
from batches.models import Receiver, ReceiverList, ReceiverListError


class _Spy(importer._Loader):
    """The loader, remembering the largest its set of address hashes grew."""

    largest = 0

    def add(self, email, data):
        super().add(email, data)
        _Spy.largest = max(_Spy.largest, len(self.seen))


@pytest.fixture
def spy(monkeypatch):
    _Spy.largest = 0
    monkeypatch.setattr(importer, "_Loader", _Spy)
    return _Spy


def _file() -> tuple[bytes, set[str], int, int]:
    """Rows with repeats before and after the bound, within a batch and across batches, in other
    letter case, and bad rows between them; with what a correct import makes of them."""
    rows = []
    for i in range(40):
        rows.append(f"r{i}@example.com")
        if i % 3 == 0:
            rows.append(f"R{i // 2}@Example.com")  # an earlier address again (often across batches)
        if i % 7 == 0:
            rows.append(f"not-an-address-{i}")
        if i % 5 == 0:
            rows.append(f"r{i}@example.com")  # at once: the same batch
    rows += ["r0@example.com", "r39@example.com", "r2@example.com"]  # the first rows, at the very end
    valid = [r.lower() for r in rows if "@" in r]
    invalid = len(rows) - len(valid)
    return ("\n".join(rows) + "\n").encode(), set(valid), len(valid) - len(set(valid)), invalid


def _emails(rl) -> list[str]:
    return list(Receiver.objects.filter(receiver_list=rl).values_list("email", flat=True))


def test_past_the_bound_duplicates_are_still_found_exactly(account, monkeypatch, spy):
    monkeypatch.setattr(importer, "BATCH_SIZE", 4)
    monkeypatch.setattr(importer, "MAX_SEEN_ADDRESSES", 5)
    data, distinct, duplicates, invalid = _file()

    rl = list_services.create_list(account, "Bounded")
    result = importer.import_csv(rl, io.BytesIO(data))
    rl.refresh_from_db()
    assert (result.loaded, result.duplicates, result.invalid) == (len(distinct), duplicates, invalid)
    assert (rl.count, rl.duplicate_count, rl.invalid_count, rl.status) == (
        len(distinct), duplicates, invalid, ReceiverList.DONE)
    assert sorted(_emails(rl)) == sorted(distinct)
    assert ReceiverListError.objects.filter(receiver_list=rl).count() == invalid
    if connection.vendor == "postgresql":  # the direct (COPY) load and its set exist only there
        assert 0 < spy.largest <= 5
    assert spy.largest <= 5


def test_the_bound_gives_the_same_list_as_an_unbounded_import(account, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 4)
    data, *_ = _file()
    unbounded = list_services.create_list(account, "Unbounded")
    expected = importer.import_csv(unbounded, io.BytesIO(data))
    monkeypatch.setattr(importer, "MAX_SEEN_ADDRESSES", 1)
    bounded = list_services.create_list(account, "Bounded")
    got = importer.import_csv(bounded, io.BytesIO(data))
    assert (got.loaded, got.duplicates, got.invalid) == (expected.loaded, expected.duplicates, expected.invalid)
    assert sorted(_emails(bounded)) == sorted(_emails(unbounded))


def test_a_crash_after_the_bound_resumes_with_exact_counts(account, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 4)
    monkeypatch.setattr(importer, "MAX_SEEN_ADDRESSES", 3)
    data, distinct, duplicates, invalid = _file()
    rl = list_services.create_list(account, "Crash")
    real_flush = importer._Loader.flush
    flushes = []

    def dies_on_the_sixth_batch(self, **progress):
        flushes.append(1)
        if len(flushes) == 6:
            raise SystemExit("worker killed")
        real_flush(self, **progress)

    monkeypatch.setattr(importer._Loader, "flush", dies_on_the_sixth_batch)
    with pytest.raises(SystemExit):
        importer.import_csv(rl, io.BytesIO(data))
    monkeypatch.setattr(importer._Loader, "flush", real_flush)
    importer.import_csv(rl, io.BytesIO(data))  # the task run again resumes after the last committed batch
    rl.refresh_from_db()
    assert (rl.count, rl.duplicate_count, rl.invalid_count, rl.status) == (
        len(distinct), duplicates, invalid, ReceiverList.DONE)
    assert sorted(_emails(rl)) == sorted(distinct)
