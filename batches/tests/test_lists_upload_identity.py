"""An upload's import acts only on its own list state: each upload's file name is recorded on the list
when it claims it (ReceiverList.upload_file), so a task of an earlier upload run again cannot mark a
newer upload done or remove its file; an upload still being written is never taken for a leftover;
a claim is never committed without its file in place, and a list left uploading without its file is
given back instead of refusing uploads forever."""

import io
import os
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from batches.lists import importer
from batches.lists import services as list_services
from batches.lists import uploads as list_uploads
from batches.lists.tasks import import_list
from batches.models import Receiver, ReceiverList

A = b"a1@example.com\na2@example.com\n"
B = b"b1@example.com\nb2@example.com\nb3@example.com\n"


@pytest.fixture
def uploads(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path / "uploads"


@pytest.fixture
def queued(monkeypatch):
    """The tasks the uploads hand to a worker (run by the test, as the worker would)."""
    handed_out = []
    monkeypatch.setattr(import_list, "delay", lambda *args: handed_out.append(args))
    return handed_out


def upload(rl, content: bytes, queued: list, django_capture_on_commit_callbacks) -> str:
    """What the console's upload does: save the file, claim the list, queue the import on commit.
    Returns the file its task is given."""
    rl.refresh_from_db()  # as a request loads it
    with django_capture_on_commit_callbacks(execute=True):
        path, size = list_uploads.save_upload(rl, SimpleUploadedFile("l.csv", content))
        list_uploads.start_import(rl, path, size)
    list_id, name = queued[-1]
    assert list_id == rl.pk
    return name


def uploads_of(rl) -> list[str]:
    return sorted(p.name for p in list_uploads.uploads_dir().glob(f"list-{rl.pk}-*"))


def emails(rl) -> list[str]:
    return sorted(Receiver.objects.filter(receiver_list=rl).values_list("email", flat=True))


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_task_of_an_earlier_upload_run_again_leaves_the_next_upload_alone(
    account, uploads, queued, django_capture_on_commit_callbacks
):
    rl = list_services.create_list(account, "L")
    a = upload(rl, A, queued, django_capture_on_commit_callbacks)
    import_list(rl.pk, a)  # A's task: imports A and removes its file
    b = upload(rl, B, queued, django_capture_on_commit_callbacks)
    assert queued == [(rl.pk, a), (rl.pk, b)]

    import_list(rl.pk, a)  # A's task again (redelivered, or a second copy handed out by the periodic job)
    rl.refresh_from_db()
    assert rl.status == ReceiverList.UPLOADING  # B is still loading, not "done" with A's rows only
    assert Path(b).read_bytes() == B

    import_list(rl.pk, b)
    rl.refresh_from_db()
    assert (rl.status, rl.count) == (ReceiverList.DONE, 5)
    assert emails(rl) == ["a1@example.com", "a2@example.com", "b1@example.com", "b2@example.com", "b3@example.com"]
    assert uploads_of(rl) == []


def test_a_task_of_an_earlier_upload_whose_file_was_left_does_not_import_it_again(
    account, uploads, queued, django_capture_on_commit_callbacks
):
    rl = list_services.create_list(account, "L")
    a = upload(rl, A, queued, django_capture_on_commit_callbacks)
    with open(a, "rb") as fileobj:  # A's run: every batch done, then it died before removing its file
        importer.import_csv(rl, fileobj)
    b = upload(rl, B, queued, django_capture_on_commit_callbacks)
    Path(a).write_bytes(A)  # A's file, even if it were still there
    import_list(rl.pk, a)
    rl.refresh_from_db()
    assert (rl.status, rl.count, rl.duplicate_count) == (ReceiverList.UPLOADING, 2, 0)
    assert not Path(a).exists() and Path(b).exists()
    import_list(rl.pk, b)
    rl.refresh_from_db()
    assert (rl.status, rl.count, rl.duplicate_count) == (ReceiverList.DONE, 5, 0)


def test_an_upload_still_being_written_is_not_dropped_when_another_claims_the_list(
    account, uploads, queued, django_capture_on_commit_callbacks
):
    rl = list_services.create_list(account, "L")
    # Upload 2's file is being written when upload 1 claims the list and drops the list's leftovers.
    two, two_size = list_uploads.save_upload(rl, SimpleUploadedFile("two.csv", B))
    one = upload(rl, A, queued, django_capture_on_commit_callbacks)
    assert two.exists()
    import_list(rl.pk, one)

    rl.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):  # upload 2 finishes and claims the list
        list_uploads.start_import(rl, two, two_size)
    import_list(*queued[-1])
    rl.refresh_from_db()
    assert (rl.status, rl.count, rl.upload_error) == (ReceiverList.DONE, 5, "")
    assert uploads_of(rl) == []


def test_a_claim_whose_file_cannot_be_put_in_place_changes_nothing(account, uploads, queued, monkeypatch):
    rl = list_services.create_list(account, "L")
    path, size = list_uploads.save_upload(rl, SimpleUploadedFile("l.csv", A))

    def disk_error(self, target):
        raise OSError("No space left on device")

    monkeypatch.setattr(Path, "rename", disk_error)
    with pytest.raises(OSError):
        list_uploads.start_import(rl, path, size)
    rl.refresh_from_db()
    assert (rl.status, rl.upload_file) == (ReceiverList.PENDING_UPLOAD, "")  # not left uploading, file-less
    assert uploads_of(rl) == [] and queued == []
    list_services.check_can_add(rl)  # the next upload is taken


def test_the_command_whose_copy_cannot_be_put_in_place_leaves_the_list_as_it_was(account, uploads, tmp_path, monkeypatch):
    rl = list_services.create_list(account, "L")
    source = tmp_path / "mine.csv"
    source.write_bytes(A)

    def killed(self, target):
        raise SystemExit("killed")

    monkeypatch.setattr(Path, "rename", killed)
    with pytest.raises(SystemExit):
        call_command("import_receivers", str(rl.pk), str(source), stdout=io.StringIO())
    rl.refresh_from_db()
    assert rl.status == ReceiverList.PENDING_UPLOAD and uploads_of(rl) == []
    monkeypatch.undo()
    call_command("import_receivers", str(rl.pk), str(source), stdout=io.StringIO())
    rl.refresh_from_db()
    assert (rl.status, emails(rl)) == (ReceiverList.DONE, ["a1@example.com", "a2@example.com"])


def test_a_list_left_uploading_without_its_file_is_given_back_by_the_periodic_job(account, uploads, queued):
    fresh = list_services.create_list(account, "Fresh")
    list_services.begin_upload(fresh, 100, upload_file=f"list-{fresh.pk}-gone.csv")  # the process died before the file was in place
    loaded = list_services.create_list(account, "Loaded")
    importer.add_receivers(loaded, [("ann@example.com", {})])
    list_services.begin_upload(loaded, 100, upload_file=f"list-{loaded.pk}-gone.csv")

    assert list_uploads.requeue_stalled_imports() == "re-queued 0 list imports; 2 lost uploads given up"
    fresh.refresh_from_db()
    loaded.refresh_from_db()
    assert fresh.status == ReceiverList.PENDING_UPLOAD and loaded.status == ReceiverList.DONE
    assert "Upload the file again" in fresh.upload_error and "Upload the file again" in loaded.upload_error
    assert emails(loaded) == ["ann@example.com"]
    assert queued == []
    list_services.check_can_add(fresh)  # takes a new upload
    assert list_uploads.requeue_stalled_imports() == "re-queued 0 list imports"


def test_the_command_run_again_takes_a_list_its_dead_run_left_uploading_without_a_file(account, uploads, tmp_path):
    rl = list_services.create_list(account, "L")
    list_services.begin_upload(rl, 100, upload_file=f"list-{rl.pk}-gone.csv")
    source = tmp_path / "mine.csv"
    source.write_bytes(A)
    call_command("import_receivers", str(rl.pk), str(source), stdout=io.StringIO())
    rl.refresh_from_db()
    assert (rl.status, rl.count, rl.upload_error) == (ReceiverList.DONE, 2, "")


def test_the_periodic_job_hands_out_only_the_current_upload_and_drops_orphans(account, uploads, queued, settings):
    rl = list_services.create_list(account, "L")
    uploads.mkdir(parents=True)
    current = uploads / f"list-{rl.pk}-current.csv"
    current.write_bytes(A)
    list_services.begin_upload(rl, len(A), upload_file=current.name)
    orphan = uploads / f"list-{rl.pk}-rolled-back.csv"  # a claim that was rolled back after its rename
    orphan.write_bytes(B)
    dead_partial = uploads / f"list-{rl.pk}-dead.partial"  # its writer died
    dead_partial.write_bytes(B)
    young_partial = uploads / f"list-{rl.pk}-young.partial"  # being written now
    young_partial.write_bytes(B)
    for path in (current, orphan, dead_partial):
        age(path, settings.SES_LIST_IMPORT_STALL_SECONDS + 5)

    assert list_uploads.requeue_stalled_imports() == "re-queued 1 list imports"
    assert queued == [(rl.pk, str(current))]
    assert uploads_of(rl) == [current.name, young_partial.name]


def test_the_periodic_job_drops_the_file_of_a_finished_upload_its_task_left(account, uploads, queued, settings):
    rl = list_services.create_list(account, "L")
    uploads.mkdir(parents=True)
    left = uploads / f"list-{rl.pk}-done.csv"
    left.write_bytes(A)
    list_services.begin_upload(rl, len(A), upload_file=left.name)
    import_list(rl.pk, str(left))
    rl.refresh_from_db()
    assert rl.status == ReceiverList.DONE
    left.write_bytes(A)  # the task died after finishing the list, before removing its file
    age(left, settings.SES_LIST_IMPORT_STALL_SECONDS + 5)

    assert list_uploads.requeue_stalled_imports() == "re-queued 0 list imports"
    assert queued == [] and not left.exists()
    rl.refresh_from_db()
    assert (rl.status, rl.count) == (ReceiverList.DONE, 2)
