"""Celery task of recipient lists: load an uploaded CSV in a worker, so the console stays responsive.

Registered by name (`batches.import_list`); batches/apps.py imports this module so a worker that
autodiscovers only `tasks.py` knows it too.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

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
    list_id, name = receiver_list.pk, str(path)
    transaction.on_commit(lambda: enqueue_import(list_id, name), robust=True)


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
    if connection.vendor != "postgresql":
        return _import_list(list_id, path)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, list_id])
        if not cursor.fetchone()[0]:
            log.info("recipient list %s is being imported by another worker; this task ends", list_id)
            return None
    try:
        return _import_list(list_id, path)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, list_id])


def _import_list(list_id: int, path: str) -> None:
    file = Path(path)
    receiver_list = ReceiverList.objects.filter(pk=list_id).first()
    if receiver_list is None:
        log.info("recipient list %s is gone; dropping its upload", list_id)
        file.unlink(missing_ok=True)
        return
    if not file.exists():
        # A redelivered task whose first run finished: the file is removed only after the import.
        log.info("upload %s of list %s is already imported", path, list_id)
        ReceiverList.objects.filter(pk=list_id, status=ReceiverList.UPLOADING).update(status=ReceiverList.DONE)
        return
    with file.open("rb") as fileobj:
        lists.import_csv(receiver_list, fileobj, size=file.stat().st_size, on_progress=lambda: _touch(file))
    file.unlink(missing_ok=True)
