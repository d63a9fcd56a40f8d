"""Celery task of recipient lists: load an uploaded CSV in a worker, so the console stays responsive.

Registered by name (`batches.import_list`); batches/apps.py imports this module so a worker that
autodiscovers only `tasks.py` knows it too.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db import transaction

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
    transaction.on_commit(lambda: import_list.delay(list_id, name))


@shared_task(name="batches.import_list", acks_late=True)
def import_list(list_id: int, path: str) -> None:
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
        lists.import_csv(receiver_list, fileobj, size=file.stat().st_size)
    file.unlink(missing_ok=True)
