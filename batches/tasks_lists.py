"""Celery task of recipient lists: load an uploaded CSV in a worker, so the console stays responsive.

Registered by name (`batches.import_list`); batches/apps.py imports this module so a worker that
autodiscovers only `tasks.py` knows it too.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import logging
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from batches import lists
from batches.models import ReceiverList

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def uploads_dir() -> Path:
    path = Path(settings.DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_upload(receiver_list: ReceiverList, uploaded) -> tuple[Path, int]:
    """Copy an uploaded file to DATA_DIR/uploads chunk by chunk (never whole in memory)."""
    path = uploads_dir() / f"list-{receiver_list.pk}-{uuid.uuid4().hex}.csv"
    size = 0
    with path.open("wb") as out:
        for chunk in uploaded.chunks(CHUNK):
            out.write(chunk)
            size += len(chunk)
    return path, size


def start_import(receiver_list: ReceiverList, path: Path, size: int) -> None:
    """Claim the list (status 2) and hand the file to a worker once that is committed."""
    try:
        lists.begin_upload(receiver_list, size)
    except lists.ListError:
        path.unlink(missing_ok=True)
        raise
    _drop_stale_uploads(receiver_list.pk, keep=path)
    list_id, name = receiver_list.pk, str(path)
    transaction.on_commit(lambda: enqueue_import(list_id, name), robust=True)


def _drop_stale_uploads(list_id: int, keep: Path) -> None:
    """Once a new upload has claimed the list, any other upload file of it is a leftover of a finished
    import (its run died before removing it): requeue_stalled_imports must not hand it out again."""
    for path in uploads_dir().glob(f"list-{list_id}-*.csv"):
        if path != keep:
            log.info("dropping %s, a leftover of an earlier upload of list %s", path, list_id)
            path.unlink(missing_ok=True)


def enqueue_import(list_id: int, path: str) -> bool:
    """Hand the import to a worker. With the broker down the upload still succeeds: the list stays
    uploading with its file on disk, and requeue_stalled_imports hands it out again later."""
    try:
        import_list.delay(list_id, path)
    except Exception:
        log.exception("could not queue the import of recipient list %s (%s); the periodic job will retry", list_id, path)
        return False
    return True


def requeue_stalled_imports(now: dt.datetime | None = None) -> str:
    """Periodic: uploading lists whose upload file has not been touched for
    SES_LIST_IMPORT_STALL_SECONDS go to a worker again (their task was lost: the broker was down at
    the upload, or a worker died). A running import touches its file at each progress write, and
    this touches it at each hand-out, so the next try waits a full period; an import still running
    elsewhere makes the extra task return at once (import_list's lock)."""
    now = now or timezone.now()
    cutoff = (now - dt.timedelta(seconds=settings.SES_LIST_IMPORT_STALL_SECONDS)).timestamp()
    uploading = ReceiverList.objects.filter(status=ReceiverList.UPLOADING).values_list("pk", flat=True)
    queued = 0
    for list_id in uploading:
        for path in sorted(uploads_dir().glob(f"list-{list_id}-*.csv")):
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                os.utime(path, (now.timestamp(), now.timestamp()))
            except FileNotFoundError:  # the import finished meanwhile
                continue
            queued += enqueue_import(list_id, str(path))
    return f"re-queued {queued} list imports"


def _touch(file: Path) -> None:
    try:
        os.utime(file)
    except OSError:
        pass


# pg_try_advisory_lock(_LOCK_CLASS, list id): one import of a list at a time, released when the
# import ends or its connection closes (a killed worker).
_LOCK_CLASS = 0x5E5_1157


@shared_task(name="batches.import_list", acks_late=True)
def import_list(list_id: int, path: str) -> None:
    _locked_import(list_id, path)


class _Busy(Exception):
    """Another process holds the import lock of the list."""


def _locked_import(list_id: int, path: str) -> lists.ImportResult | None:
    """_import_list under the list's import lock; None when another process is importing the list."""
    try:
        with _import_lock(list_id):
            return _import_list(list_id, path)
    except _Busy:
        log.info("recipient list %s is being imported by another worker; this task ends", list_id)
        return None


@contextmanager
def _import_lock(list_id: int):
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, list_id])
        if not cursor.fetchone()[0]:
            raise _Busy(list_id)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, list_id])


def _import_list(list_id: int, path: str) -> lists.ImportResult | None:
    file = Path(path)
    receiver_list = ReceiverList.objects.filter(pk=list_id).first()
    if receiver_list is None:
        log.info("recipient list %s is gone; dropping its upload", list_id)
        file.unlink(missing_ok=True)
        return None
    if not file.exists():
        # A redelivered task whose first run finished: the file is removed only after the import.
        log.info("upload %s of list %s is already imported", path, list_id)
        ReceiverList.objects.filter(pk=list_id, status=ReceiverList.UPLOADING).update(status=ReceiverList.DONE)
        return None
    if receiver_list.status != ReceiverList.UPLOADING:
        # Every upload is claimed (begin_upload) before its task is queued, and its last batch marks
        # it done: a file whose list is not uploading was imported by a run that died before it could
        # remove the file. Importing it again would count every row a second time.
        log.info("upload %s of list %s was imported by an earlier run; dropping it", path, list_id)
        file.unlink(missing_ok=True)
        return None
    with file.open("rb") as fileobj:
        result = lists.import_csv(receiver_list, fileobj, size=file.stat().st_size, on_progress=lambda: _touch(file))
    file.unlink(missing_ok=True)
    return result


# --- manage.py import_receivers ----------------------------------------------------------------------


class LocalImport:
    """What import_local_file did: `result` counts this run's rows (None: nothing was imported)."""

    def __init__(self, receiver_list: ReceiverList, result: lists.ImportResult | None, *, resumed: bool = False,
                 already_imported: bool = False):
        self.receiver_list = receiver_list
        self.result = result
        self.resumed = resumed
        self.already_imported = already_imported


def _same_content(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_size == b.stat().st_size and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def import_local_file(receiver_list: ReceiverList, source: Path) -> LocalImport:
    """Import a CSV file of this machine into the list the way a console upload is imported.

    1. An earlier run on the same content (a leftover upload file of the list, equal byte for byte)
       that stopped part-way — killed, or the machine went down — is resumed after its last
       committed batch; one that had finished its last batch imports nothing again.
    2. Otherwise the list is claimed with begin_upload (refused while another upload loads it or a
       batch task sends to it) and the file is copied into the uploads directory, as an upload is.
    3. The import runs in this process, as import_list runs it in a worker: under the list's lock,
       progress written per batch, the copy removed at the end. A run that dies leaves the copy:
       this command run again, or requeue_stalled_imports, finishes it.
    Raises ListError (nothing changed) when the list cannot take the file.
    """
    leftovers = [path for path in sorted(uploads_dir().glob(f"list-{receiver_list.pk}-*.csv"))
                 if _same_content(path, source)]
    receiver_list.refresh_from_db()
    if leftovers and receiver_list.status == ReceiverList.UPLOADING:
        result = _locked_import(receiver_list.pk, str(leftovers[0]))
        if result is None and leftovers[0].exists():
            raise lists.ListError(lists.IS_OPERATING, _("The list is being uploaded: wait until the upload has finished."))
        receiver_list.refresh_from_db()
        return LocalImport(receiver_list, result, resumed=True)
    if leftovers and receiver_list.status == ReceiverList.DONE:
        for path in leftovers:
            path.unlink(missing_ok=True)
        return LocalImport(receiver_list, None, already_imported=True)
    lists.check_can_add(receiver_list)  # before copying a large file for nothing; begin_upload checks again
    # Copied under a name requeue_stalled_imports does not pick up until the list is claimed.
    name = f"list-{receiver_list.pk}-{uuid.uuid4().hex}"
    partial = uploads_dir() / f"{name}.partial"
    try:
        shutil.copyfile(source, partial)
        lists.begin_upload(receiver_list, partial.stat().st_size)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    path = partial.rename(uploads_dir() / f"{name}.csv")
    _drop_stale_uploads(receiver_list.pk, keep=path)
    result = _locked_import(receiver_list.pk, str(path))
    if result is None and path.exists():
        raise lists.ListError(lists.IS_OPERATING, _("The list is being uploaded: wait until the upload has finished."))
    receiver_list.refresh_from_db()
    return LocalImport(receiver_list, result)
