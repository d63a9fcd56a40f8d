"""A list import survives a lost task and a crash: the upload with the broker down is picked up by
the periodic job, and a redelivered import loads no recipient twice."""

import io
import os
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from kombu.exceptions import OperationalError

from batches.lists import importer
from batches.lists import services as list_services
from batches.lists import uploads as list_uploads
from batches.lists.tasks import import_list
from batches.models import Receiver, ReceiverList, ReceiverListError
from ops import periodic

CSV = b"email,name\nann@example.com,Ann\nnot-an-address,X\nbob@example.com,Bob\n"


@pytest.fixture
def uploads(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path / "uploads"


def emails(rl):
    return list(Receiver.objects.filter(receiver_list=rl).order_by("id").values_list("email", flat=True))


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_upload_with_the_broker_down_is_imported_by_the_periodic_job(
    client, owner, uploads, settings, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args):
        raise OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(import_list, "delay", broker_down)
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("lists"), {"name": "News", "file": SimpleUploadedFile("l.csv", CSV, "text/csv")})
    assert response.status_code == 302  # the upload is kept, not an error page
    rl = ReceiverList.objects.get()
    assert rl.status == ReceiverList.UPLOADING
    [path] = list(uploads.glob(f"list-{rl.pk}-*.csv"))

    queued = []
    monkeypatch.setattr(import_list, "delay", lambda *args: queued.append(args))
    assert list_uploads.requeue_stalled_imports() == "re-queued 0 list imports"  # too early
    age(path, settings.SES_LIST_IMPORT_STALL_SECONDS + 5)
    [result] = [r for r in periodic.run_due_jobs(force=True) if r.name == "requeue_stalled_imports"]
    assert result.ok and result.summary == "re-queued 1 list imports"
    assert queued == [(rl.pk, str(path))]
    assert list_uploads.requeue_stalled_imports() == "re-queued 0 list imports"  # handed out: waits a period

    import_list(*queued[0])
    rl.refresh_from_db()
    assert (rl.status, rl.count, rl.invalid_count) == (ReceiverList.DONE, 2, 1)
    assert emails(rl) == ["ann@example.com", "bob@example.com"]
    assert not path.exists()
    assert list_uploads.requeue_stalled_imports() == "re-queued 0 list imports"  # done: nothing left


def test_an_import_that_makes_progress_is_not_handed_out_again(account, uploads, settings, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 2)
    rl = list_services.create_list(account, "Busy")
    uploads.mkdir(parents=True)
    path = uploads / f"list-{rl.pk}-x.csv"
    path.write_bytes(b"".join(f"r{i}@example.com\n".encode() for i in range(5)))
    list_services.begin_upload(rl, path.stat().st_size)
    age(path, settings.SES_LIST_IMPORT_STALL_SECONDS + 5)
    queued = []
    monkeypatch.setattr(import_list, "delay", lambda *args: queued.append(args))
    stale = path.stat().st_mtime
    with path.open("rb") as fileobj:  # as import_list runs it, stopped before it removes the file
        importer.import_csv(rl, fileobj, on_progress=lambda: list_uploads._touch(path))
    assert path.stat().st_mtime > stale  # the import touched its file as it went
    ReceiverList.objects.filter(pk=rl.pk).update(status=ReceiverList.UPLOADING)  # as if still going
    assert list_uploads.requeue_stalled_imports() == "re-queued 0 list imports"
    assert queued == []


def test_a_crashed_import_run_again_loads_no_recipient_twice(account, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 3)
    rl = list_services.create_list(account, "Crash")
    # Before the crash (batches of 3 good rows): a bad row (line 3) and a duplicate (line 5).
    rows = [f"r{i}@example.com,{i}\n" for i in range(10)]
    data = ("email,n\n" + rows[0] + "bad,x\n" + rows[1] + rows[0] + "".join(rows[2:])
            + "bad,y\n" + "r1@example.com,1\n").encode()
    real_flush = importer._Loader.flush
    flushes = []

    def dies_on_the_third_batch(self, **progress):
        flushes.append(1)
        if len(flushes) == 3:
            raise SystemExit("worker killed")
        real_flush(self, **progress)

    monkeypatch.setattr(importer._Loader, "flush", dies_on_the_third_batch)
    with pytest.raises(SystemExit):
        importer.import_csv(rl, io.BytesIO(data))
    assert emails(rl) == [f"r{i}@example.com" for i in range(6)]  # two batches committed
    rl.refresh_from_db()
    assert (rl.status, rl.invalid_count, rl.duplicate_count) == (ReceiverList.UPLOADING, 1, 1)

    monkeypatch.setattr(importer._Loader, "flush", real_flush)
    result = importer.import_csv(rl, io.BytesIO(data))  # the redelivered task goes on from the last batch
    rl.refresh_from_db()
    assert emails(rl) == [f"r{i}@example.com" for i in range(10)]
    assert rl.count == 10 and rl.status == ReceiverList.DONE
    assert (rl.invalid_count, rl.duplicate_count) == (2, 2)  # each bad or repeated row counted once
    assert (result.loaded, result.invalid, result.duplicates) == (4, 1, 1)
    assert Receiver.objects.get(receiver_list=rl, email="r7@example.com").template_data == {"n": "7"}
    errors = ReceiverListError.objects.filter(receiver_list=rl).order_by("line")
    assert list(errors.values_list("line", "content")) == [(3, "bad,x"), (14, "bad,y")]


def test_rows_whose_address_hash_was_seen_are_checked_exactly(account, monkeypatch):
    """Every address hashing alike: no row may be lost, real duplicates are still counted."""
    monkeypatch.setattr(importer, "BATCH_SIZE", 4)
    monkeypatch.setattr(importer, "hash", lambda value: 0, raising=False)
    rl = list_services.create_list(account, "Collisions")
    rows = [f"r{i}@example.com" for i in range(9)]
    result = importer.import_csv(rl, io.BytesIO("\n".join(rows + ["r3@example.com", "R8@example.com"]).encode() + b"\n"))
    rl.refresh_from_db()
    assert sorted(emails(rl)) == sorted(rows)
    assert (result.loaded, result.duplicates, rl.count, rl.duplicate_count) == (9, 2, 9, 2)


def test_an_address_already_in_the_list_does_not_break_a_direct_load(account):
    rl = list_services.create_list(account, "Race")
    importer.add_receivers(rl, [("bob@example.com", {})])  # as if added after the import began
    loader = importer._Loader(rl, direct=True)
    for email in ("ann@example.com", "bob@example.com", "cy@example.com"):
        loader.add(email, "{}" if connection.vendor == "postgresql" else {})
    loader.flush()
    loader.add("dee@example.com", "{}" if connection.vendor == "postgresql" else {})
    loader.flush()
    rl.refresh_from_db()
    assert emails(rl) == ["bob@example.com", "ann@example.com", "cy@example.com", "dee@example.com"]
    assert (loader.result.loaded, loader.result.duplicates, rl.count, rl.duplicate_count) == (3, 1, 4, 1)


def test_values_that_copy_escapes_load_exactly(account):
    rl = list_services.create_list(account, "Escapes")
    text = ('email,a,b\n'
            '"""x\\\\y""@example.com",back\\slash,"tab\there"\n'
            'zoe@example.com,"say ""hi""",Zoë 🎉\n')
    result = importer.import_csv(rl, io.BytesIO(text.encode()))
    assert (result.loaded, result.invalid) == (2, 0), list(ReceiverListError.objects.values_list("reason", flat=True))
    got = {r.email: r.template_data for r in Receiver.objects.filter(receiver_list=rl)}
    assert got == {
        '"x\\\\y"@example.com': {"a": "back\\slash", "b": "tab\there"},
        "zoe@example.com": {"a": 'say "hi"', "b": "Zoë 🎉"},
    }


@pytest.mark.postgres(reason="the lock between workers is PostgreSQL's")
def test_a_second_task_for_a_list_being_imported_leaves_it_alone(account, uploads):
    import psycopg

    rl = list_services.create_list(account, "Twice")
    uploads.mkdir(parents=True)
    path = uploads / f"list-{rl.pk}-x.csv"
    path.write_bytes(CSV)
    list_services.begin_upload(rl, len(CSV))
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:  # the worker importing it now
        other.execute("SELECT pg_advisory_lock(%s, %s)", [list_uploads._LOCK_CLASS, rl.pk])
        import_list(rl.pk, str(path))
        rl.refresh_from_db()
        assert (rl.status, rl.count) == (ReceiverList.UPLOADING, 0) and path.exists()
    # That worker died: its lock goes with its connection, once the server has ended that session.
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s",
                           [list_uploads._LOCK_CLASS, rl.pk])
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.05)
    import_list(rl.pk, str(path))
    rl.refresh_from_db()
    assert (rl.status, rl.count) == (ReceiverList.DONE, 2) and not path.exists()


def test_a_read_error_in_the_middle_of_a_batch_rolls_that_batch_back(account):
    rl = list_services.create_list(account, "Broken disk")
    data = "".join(f"r{i}@example.com\n" for i in range(2500)).encode()

    class FailingFile(io.BytesIO):
        def readline(self, size=-1):
            if self.tell() > len(data) // 2:  # rows already on their way to the database
                raise OSError("I/O error")
            return super().readline(size)

    with pytest.raises(OSError):
        importer.import_csv(rl, FailingFile(data))
    assert emails(rl) == []  # the batch was not committed
    importer.import_csv(rl, io.BytesIO(data))  # the connection is usable: the task runs again
    rl.refresh_from_db()
    assert rl.count == 2500 and emails(rl)[:2] == ["r0@example.com", "r1@example.com"]
