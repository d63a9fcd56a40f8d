"""Load a CSV file into a recipient list from the shell (large files, benchmarks).

The same path as a console upload (batches.lists.uploads.import_local_file): the list is claimed with
begin_upload, the file is imported in batches with its progress, and a run that dies part-way is
finished by running the same command again (or by the periodic job), without counting a row twice.
"""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from batches.lists import importer
from batches.lists import services as list_services
from batches.lists import uploads as list_uploads
from batches.models import ReceiverList


class Command(BaseCommand):
    help = (
        "Import a CSV file (email plus template variables per row) into recipient list LIST_ID. "
        "Run it again after an interruption: it resumes where the last committed batch ended."
    )

    def add_arguments(self, parser):
        parser.add_argument("list_id", type=int)
        parser.add_argument("file", type=Path)

    def handle(self, *args, list_id: int, file: Path, **options):
        receiver_list = ReceiverList.objects.filter(pk=list_id).first()
        if receiver_list is None:
            raise CommandError(f"There is no recipient list {list_id}.")
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        started = time.monotonic()
        try:
            done = list_uploads.import_local_file(receiver_list, file)
        except list_services.ListError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        elapsed = time.monotonic() - started
        receiver_list = done.receiver_list
        totals = (f"the list has {receiver_list.count} recipients, {receiver_list.invalid_count} refused rows, "
                  f"{receiver_list.duplicate_count} duplicates")
        if done.already_imported:
            self.stdout.write(f"{file} was imported already by an earlier run; nothing to do; {totals}")
            return
        result = done.result or importer.ImportResult()
        rows = result.loaded + result.invalid + result.duplicates
        self.stdout.write(
            f"{'resumed: ' if done.resumed else ''}"
            f"{result.loaded} loaded, {result.invalid} invalid, {result.duplicates} duplicates "
            f"in {elapsed:.1f} s ({rows / elapsed if elapsed else 0:.0f} rows/s); {totals}"
        )
        if receiver_list.upload_error:
            self.stderr.write(receiver_list.upload_error)
