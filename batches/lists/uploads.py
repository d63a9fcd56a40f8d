"""Upload files of recipient lists (DATA_DIR/uploads) and running the import of one (docs/lists.md).

- uploads_dir(); save_upload(list, uploaded): the file written as `list-<id>-<uuid>.partial`
- claim_upload(list, path, size): the list claimed (begin_upload) and the file renamed to `.csv` in
  one transaction: the list's current upload (ReceiverList.upload_file); older `.csv`s dropped
- import_upload(list_id, path): the import of one upload file under the list's lock (what the
  import_list task runs), the file removed at the end -> ImportResult, None when another process has it
- give_up_lost_upload(list_id, current), drop_orphans(cutoff): an uploading list whose file is gone,
  and upload files nothing will import (requeue_stalled_imports)
- import_local_file(list, source): `manage.py import_receivers`, as a console upload, resumable
- start_import(list, path, size): claim the list for an upload, hand the import out once committed
- enqueue_import(list_id, path): hand one import out now; False when the broker is down
- requeue_stalled_imports(): periodic (ops.periodic.JOBS): imports whose task was lost go out again
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

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from batches.lists import importer, services
from batches.models import ReceiverList
from core.enqueue import enqueue_on_commit, publish

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


def uploads_dir() -> Path:
    path = Path(settings.DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_upload(receiver_list: ReceiverList, uploaded) -> tuple[Path, int]:
    """Copy an uploaded file to DATA_DIR/uploads chunk by chunk (never whole in memory).

    Written as `.partial`: claim_upload renames it to `.csv` once the upload has claimed the list, so
    a file still being written is never taken for a leftover (_drop_stale_uploads) or handed out."""
    path = uploads_dir() / f"list-{receiver_list.pk}-{uuid.uuid4().hex}.partial"
    size = 0
    with path.open("wb") as out:
        for chunk in uploaded.chunks(CHUNK):
            out.write(chunk)
            size += len(chunk)
    return path, size


def claim_upload(receiver_list: ReceiverList, path: Path, size: int) -> Path:
    """Make the upload in `path` (a `.partial`, or a `.csv` already in place) the list's current upload:
    begin_upload records its `.csv` name on the list, and the file is renamed to it in the same
    transaction, so a claim is never committed without its file in place (nor undone with the file
    left as a `.csv`). Refused (ListError) or failed, the file is removed and nothing changes.
    Returns the `.csv` path."""
    final = path.with_suffix(".csv")
    try:
        with transaction.atomic():
            services.begin_upload(receiver_list, size, upload_file=final.name)
            if path != final:
                path.rename(final)
    except BaseException:
        path.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise
    _drop_stale_uploads(receiver_list.pk, keep=final)
    return final


def _drop_stale_uploads(list_id: int, keep: Path) -> None:
    """Once a new upload has claimed the list, any other `.csv` of it is a leftover of a finished import
    (its run died before removing it), or of a claim that was rolled back. Uploads still being written
    are `.partial` files (save_upload) and are left alone."""
    for path in uploads_dir().glob(f"list-{list_id}-*.csv"):
        if path != keep:
            log.info("dropping %s, a leftover of an earlier upload of list %s", path, list_id)
            path.unlink(missing_ok=True)


LOST_UPLOAD = ("The upload stopped and its file is lost: the rows loaded before it stay in the list. "
               "Upload the file again.")


def give_up_lost_upload(list_id: int, current: str) -> bool:
    """An uploading list whose upload file is gone (a process died between claiming the list and putting
    the file in place, or the file was removed) would refuse every upload forever: it goes back to
    ready — or waiting for upload, when nothing was ever loaded — with upload_error saying so. Only if
    it is still uploading that same upload: an import marks its list done before it removes its file,
    so a list seen uploading after its file was found missing has lost it."""
    given_up = ReceiverList.objects.filter(pk=list_id, status=ReceiverList.UPLOADING, upload_file=current).update(
        status=Case(When(count=0, bytes_done=0, then=Value(ReceiverList.PENDING_UPLOAD)),
                    default=Value(ReceiverList.DONE)),
        upload_error=LOST_UPLOAD,
    )
    if given_up:
        log.warning("recipient list %s was uploading %s, which is gone: the upload is given up", list_id,
                    current or "a file")
    return bool(given_up)


def drop_orphans(cutoff: float) -> None:
    """Upload files nothing will import, untouched since `cutoff`: a `.partial` whose writer died, and a
    `.csv` that is no uploading list's current upload (its claim was rolled back, or its list finished
    and the task died before removing it)."""
    uploading = list(ReceiverList.objects.filter(status=ReceiverList.UPLOADING).values_list("pk", "upload_file"))
    named = {upload_file for _, upload_file in uploading if upload_file}
    unnamed = {pk for pk, upload_file in uploading if not upload_file}
    for path in uploads_dir().glob("list-*"):
        if path.suffix == ".csv":
            list_id = path.name.split("-")[1]
            if path.name in named or (list_id.isdigit() and int(list_id) in unnamed):
                continue
        elif path.suffix != ".partial":
            continue
        try:
            if path.stat().st_mtime < cutoff:
                log.info("dropping %s, an upload file nothing will import", path)
                path.unlink()
        except FileNotFoundError:
            pass


def _touch(file: Path) -> None:
    try:
        os.utime(file)
    except OSError:
        pass


# pg_try_advisory_lock(_LOCK_CLASS, list id): one import of a list at a time, released when the
# import ends or its connection closes (a killed worker).
_LOCK_CLASS = 0x5E5_1157


class _Busy(Exception):
    """Another process holds the import lock of the list."""


def import_upload(list_id: int, path: str) -> importer.ImportResult | None:
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


def _import_list(list_id: int, path: str) -> importer.ImportResult | None:
    file = Path(path)
    receiver_list = ReceiverList.objects.filter(pk=list_id).first()
    if receiver_list is None:
        log.info("recipient list %s is gone; dropping its upload", list_id)
        file.unlink(missing_ok=True)
        return None
    current = receiver_list.upload_file
    if current and current != file.name:
        # A task of an earlier upload, run again (redelivered, or a second copy handed out): a newer
        # upload has claimed the list since — which begin_upload allows only once this file's import
        # had finished. The list, its status and the newer upload's file are not this task's.
        log.info("upload %s of list %s is not its current upload (%s); dropping it", path, list_id, current)
        file.unlink(missing_ok=True)
        return None
    if not file.exists():
        # A redelivered task whose first run finished (it marks the list done, then removes the file),
        # or the file of the list's current upload is lost.
        log.info("upload %s of list %s is already imported or gone", path, list_id)
        if current or not any(uploads_dir().glob(f"list-{list_id}-*.csv")):
            give_up_lost_upload(list_id, current)
        return None
    if receiver_list.status != ReceiverList.UPLOADING:
        # Every upload is claimed (begin_upload) before its task is queued, and its last batch marks
        # it done: a file whose list is not uploading was imported by a run that died before it could
        # remove the file. Importing it again would count every row a second time.
        log.info("upload %s of list %s was imported by an earlier run; dropping it", path, list_id)
        file.unlink(missing_ok=True)
        return None
    with file.open("rb") as fileobj:
        result = importer.import_csv(receiver_list, fileobj, size=file.stat().st_size, on_progress=lambda: _touch(file))
    file.unlink(missing_ok=True)
    return result


# --- manage.py import_receivers ----------------------------------------------------------------------


class LocalImport:
    """What import_local_file did: `result` counts this run's rows (None: nothing was imported)."""

    def __init__(self, receiver_list: ReceiverList, result: importer.ImportResult | None, *, resumed: bool = False,
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

    1. An earlier run on the same content (the list's current upload file left behind, equal byte
       for byte) that stopped part-way — killed, or the machine went down — is resumed after its last
       committed batch; one that had finished its last batch imports nothing again.
    2. Otherwise the list is claimed with begin_upload (refused while another upload loads it or a
       batch task sends to it) and the file is copied into the uploads directory, as an upload is.
    3. The import runs in this process, as import_list runs it in a worker: under the list's lock,
       progress written per batch, the copy removed at the end. A run that dies leaves the copy:
       this command run again, or requeue_stalled_imports, finishes it. A run that died between
       claiming the list and putting its copy in place left the list uploading without a file: it is
       given back (give_up_lost_upload) and this run goes on as in 2.
    Raises ListError (nothing changed) when the list cannot take the file.
    """
    receiver_list.refresh_from_db()
    current = receiver_list.upload_file
    if (receiver_list.status == ReceiverList.UPLOADING and current
            and not (uploads_dir() / current).exists() and give_up_lost_upload(receiver_list.pk, current)):
        receiver_list.refresh_from_db()  # an earlier run died before its copy was in place
    # Only the list's current upload is a leftover of an earlier run (any file of a list claimed
    # without a name, before upload_file existed).
    leftovers = [path for path in sorted(uploads_dir().glob(f"list-{receiver_list.pk}-*.csv"))
                 if (not current or path.name == current) and _same_content(path, source)]
    if leftovers and receiver_list.status == ReceiverList.UPLOADING:
        result = import_upload(receiver_list.pk, str(leftovers[0]))
        if result is None and leftovers[0].exists():
            raise services.ListError(services.IS_OPERATING, _("The list is being uploaded: wait until the upload has finished."))
        receiver_list.refresh_from_db()
        return LocalImport(receiver_list, result, resumed=True)
    if leftovers and receiver_list.status == ReceiverList.DONE:
        for path in leftovers:
            path.unlink(missing_ok=True)
        return LocalImport(receiver_list, None, already_imported=True)
    services.check_can_add(receiver_list)  # before copying a large file for nothing; begin_upload checks again
    # Copied under a name requeue_stalled_imports does not pick up until the list is claimed.
    name = f"list-{receiver_list.pk}-{uuid.uuid4().hex}"
    partial = uploads_dir() / f"{name}.partial"
    try:
        shutil.copyfile(source, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    path = claim_upload(receiver_list, partial, partial.stat().st_size)
    result = import_upload(receiver_list.pk, str(path))
    if result is None and path.exists():
        raise services.ListError(services.IS_OPERATING, _("The list is being uploaded: wait until the upload has finished."))
    receiver_list.refresh_from_db()
    return LocalImport(receiver_list, result)


# --- handing imports to the task (batches.import_list, by name: core.enqueue) ---------------------


def start_import(receiver_list: ReceiverList, path: Path, size: int) -> None:
    """Claim the list (status 2) for save_upload's file and hand it to a worker once that is committed."""
    path = claim_upload(receiver_list, path, size)
    enqueue_on_commit("batches.import_list", receiver_list.pk, str(path))


def enqueue_import(list_id: int, path: str) -> bool:
    """Hand the import to a worker. With the broker down the upload still succeeds: the list stays
    uploading with its file on disk, and requeue_stalled_imports hands it out again later."""
    try:
        publish("batches.import_list", list_id, path)
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
    upload file is gone is given back (see give_up_lost_upload), so it takes a new upload;
    upload files nothing will import are removed once as old (drop_orphans)."""
    now = now or timezone.now()
    cutoff = (now - dt.timedelta(seconds=settings.SES_LIST_IMPORT_STALL_SECONDS)).timestamp()
    uploading = ReceiverList.objects.filter(status=ReceiverList.UPLOADING).values_list("pk", "upload_file")
    queued = lost = 0
    for list_id, current in uploading:
        # A list claimed without a file name (before upload_file existed): any file of it.
        paths = ([uploads_dir() / current] if current
                 else sorted(uploads_dir().glob(f"list-{list_id}-*.csv")))
        if not paths:
            lost += give_up_lost_upload(list_id, current)
        for path in paths:
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                os.utime(path, (now.timestamp(), now.timestamp()))
            except FileNotFoundError:  # the import finished meanwhile, or the file is lost
                if current:
                    lost += give_up_lost_upload(list_id, current)
                continue
            queued += enqueue_import(list_id, str(path))
    drop_orphans(cutoff)
    return f"re-queued {queued} list imports" + (f"; {lost} lost uploads given up" if lost else "")
