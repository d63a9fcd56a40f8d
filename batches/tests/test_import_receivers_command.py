"""manage.py import_receivers goes the console's way (begin_upload, then the import of a copy in the
uploads directory): it cannot load a list another upload or a sending task holds, and a run that
died part-way, run again, resumes and counts every row once."""

import io

import pytest
from django.core.management import CommandError, call_command

from batches.lists import importer
from batches.lists import services as list_services
from batches.lists.tasks import import_list
from batches.models import BatchTask, Receiver, ReceiverList, ReceiverListError

# 12 good rows (one of them twice) and two bad ones, spread over several batches of 3.
ROWS = ["email,n"] + [f"r{i}@example.com,{i}" for i in range(6)] + ["bad,x", "r1@example.com,1"] \
    + [f"r{i}@example.com,{i}" for i in range(6, 12)] + ["bad,y"]
CSV = ("\n".join(ROWS) + "\n").encode()
EXPECTED = {"count": 12, "invalid_count": 2, "duplicate_count": 1}


@pytest.fixture
def uploads(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    return tmp_path / "data" / "uploads"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(CSV)
    return path


def run(*args) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_receivers", *map(str, args), stdout=out, stderr=err)
    return out.getvalue()


def state(rl) -> dict:
    rl.refresh_from_db()
    return {"status": rl.status, "count": rl.count, "invalid_count": rl.invalid_count,
            "duplicate_count": rl.duplicate_count, "bytes_done": rl.bytes_done,
            "receivers": Receiver.objects.filter(receiver_list=rl).count(),
            "errors": ReceiverListError.objects.filter(receiver_list=rl).count()}


def done_state() -> dict:
    return {"status": ReceiverList.DONE, **EXPECTED, "bytes_done": len(CSV), "receivers": 12, "errors": 2}


def test_the_command_imports_a_file_and_leaves_no_copy_behind(account, uploads, source):
    rl = list_services.create_list(account, "News")
    out = run(rl.pk, source)
    assert "12 loaded, 2 invalid, 1 duplicates" in out and "the list has 12 recipients" in out
    assert state(rl) == done_state()
    assert list(uploads.iterdir()) == []
    assert source.read_bytes() == CSV  # the user's file is only read


def test_a_run_killed_part_way_then_run_again_resumes_and_counts_each_row_once(account, uploads, source, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 3)
    rl = list_services.create_list(account, "News")
    real_flush = importer._Loader.flush
    flushes = []

    def killed_on_the_third_batch(self, **progress):
        flushes.append(1)
        if len(flushes) == 3:
            raise KeyboardInterrupt  # Ctrl-C, or the process killed
        real_flush(self, **progress)

    monkeypatch.setattr(importer._Loader, "flush", killed_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        run(rl.pk, source)
    part = state(rl)
    assert part["status"] == ReceiverList.UPLOADING and 0 < part["bytes_done"] < len(CSV)
    assert part["count"] == 6 and len(list(uploads.glob(f"list-{rl.pk}-*.csv"))) == 1  # kept to resume

    monkeypatch.setattr(importer._Loader, "flush", real_flush)
    out = run(rl.pk, source)
    assert out.startswith("resumed: ")
    assert state(rl) == done_state()
    assert list(uploads.iterdir()) == []
    assert list(Receiver.objects.filter(receiver_list=rl).order_by("id").values_list("email", flat=True)) == [
        f"r{i}@example.com" for i in range(12)]

    # Run once more, the list done: a new upload of the same file, every row a duplicate of the list.
    out = run(rl.pk, source)
    assert "0 loaded, 2 invalid, 13 duplicates" in out
    assert state(rl)["count"] == 12


def test_a_run_that_died_after_its_last_batch_imports_nothing_again(account, uploads, source):
    rl = list_services.create_list(account, "News")
    run(rl.pk, source)
    uploads.mkdir(parents=True, exist_ok=True)
    rl.refresh_from_db()
    leftover = uploads / rl.upload_file  # the copy that run did not get to remove (the list's upload)
    leftover.write_bytes(CSV)
    out = run(rl.pk, source)
    assert "imported already" in out
    assert state(rl) == done_state()
    assert not leftover.exists()


def test_a_redelivered_import_task_of_a_finished_upload_counts_nothing_twice(account, uploads):
    rl = list_services.create_list(account, "News")
    uploads.mkdir(parents=True)
    path = uploads / f"list-{rl.pk}-x.csv"
    path.write_bytes(CSV)
    list_services.begin_upload(rl, len(CSV))
    with path.open("rb") as fileobj:  # the first run: every batch done, then it died before removing the file
        importer.import_csv(rl, fileobj)
    assert state(rl) == done_state() and path.exists()
    import_list(rl.pk, str(path))  # the task, redelivered
    assert state(rl) == done_state()
    assert not path.exists()


def test_the_command_refuses_a_list_being_uploaded_from_the_console(account, uploads, source):
    rl = list_services.create_list(account, "News")
    uploads.mkdir(parents=True)
    theirs = uploads / f"list-{rl.pk}-console.csv"
    theirs.write_bytes(b"email\nzoe@example.com\n")
    list_services.begin_upload(rl, theirs.stat().st_size)
    before = state(rl)
    with pytest.raises(CommandError, match="OperationDenied.ReceiverIsOperating"):
        run(rl.pk, source)
    assert state(rl) == before
    assert list(uploads.iterdir()) == [theirs]


def test_the_command_refuses_a_list_a_batch_task_is_sending_to(account, uploads, source, verified_domain):
    from sending.models import SenderAddress, Template

    rl = list_services.create_list(account, "News")
    run(rl.pk, source)
    sender = SenderAddress.objects.create(account=account, domain=verified_domain, email="news@mail.alice.example")
    template = Template.objects.create(account=account, name="t", subject="s", text="hi")
    BatchTask.objects.create(account=account, domain=verified_domain, sender=sender, template=template,
                             subject="s", receiver_list=rl, status=BatchTask.SENDING)
    before = state(rl)
    with pytest.raises(CommandError, match="A batch task is sending to this list"):
        run(rl.pk, source)
    assert state(rl) == before
    assert list(uploads.iterdir()) == []


def test_bad_arguments_are_refused(account, tmp_path):
    with pytest.raises(CommandError, match="There is no recipient list 999999"):
        run(999999, tmp_path / "x.csv")
    rl = list_services.create_list(account, "News")
    with pytest.raises(CommandError, match="is not a file"):
        run(rl.pk, tmp_path / "missing.csv")
    assert state(rl)["status"] == ReceiverList.PENDING_UPLOAD
