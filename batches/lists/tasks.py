"""Celery task of recipient lists, and handing uploads to it (docs/lists.md).

- import_list(list_id, path): the task (`batches.import_list`, routed by that name to the imports queue)
- start_import(list, path, size): claim the list for an upload, hand the import out once committed
- enqueue_import(list_id, path): hand one import out; False when the broker is down
- requeue_stalled_imports(): periodic (ops.periodic.JOBS): imports whose task was lost go out again

batches/apps.py imports this module, so a worker that autodiscovers only `<app>.tasks` knows the task.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from batches.lists import uploads
from batches.models import ReceiverList

log = logging.getLogger(__name__)


@shared_task(name="batches.import_list", acks_late=True)
def import_list(list_id: int, path: str) -> None:
    uploads.import_upload(list_id, path)


def start_import(receiver_list: ReceiverList, path: Path, size: int) -> None:
    """Claim the list (status 2) for save_upload's file and hand it to a worker once that is committed."""
    path = uploads.claim_upload(receiver_list, path, size)
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
    elsewhere makes the extra task return at once (import_upload's lock).
    Only the list's current upload (ReceiverList.upload_file) is handed out. An uploading list whose
    upload file is gone is given back (see uploads.give_up_lost_upload), so it takes a new upload;
    upload files nothing will import are removed once as old (uploads.drop_orphans)."""
    now = now or timezone.now()
    cutoff = (now - dt.timedelta(seconds=settings.SES_LIST_IMPORT_STALL_SECONDS)).timestamp()
    uploading = ReceiverList.objects.filter(status=ReceiverList.UPLOADING).values_list("pk", "upload_file")
    queued = lost = 0
    for list_id, current in uploading:
        # A list claimed without a file name (before upload_file existed): any file of it.
        paths = ([uploads.uploads_dir() / current] if current
                 else sorted(uploads.uploads_dir().glob(f"list-{list_id}-*.csv")))
        if not paths:
            lost += uploads.give_up_lost_upload(list_id, current)
        for path in paths:
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                os.utime(path, (now.timestamp(), now.timestamp()))
            except FileNotFoundError:  # the import finished meanwhile, or the file is lost
                if current:
                    lost += uploads.give_up_lost_upload(list_id, current)
                continue
            queued += enqueue_import(list_id, str(path))
    uploads.drop_orphans(cutoff)
    return f"re-queued {queued} list imports" + (f"; {lost} lost uploads given up" if lost else "")
