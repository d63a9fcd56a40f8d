"""Load a CSV file into a recipient list from the shell (large files, benchmarks)."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from batches import lists
from batches.models import ReceiverList


class Command(BaseCommand):
    help = "Import a CSV file (email plus template variables per row) into recipient list LIST_ID."

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
        with file.open("rb") as fileobj:
            result = lists.import_csv(receiver_list, fileobj, size=file.stat().st_size)
        elapsed = time.monotonic() - started
        receiver_list.refresh_from_db()
        rows = result.loaded + result.invalid + result.duplicates
        self.stdout.write(
            f"{result.loaded} loaded, {result.invalid} invalid, {result.duplicates} duplicates "
            f"in {elapsed:.1f} s ({rows / elapsed if elapsed else 0:.0f} rows/s); "
            f"the list has {receiver_list.count} recipients"
        )
        if receiver_list.upload_error:
            self.stderr.write(receiver_list.upload_error)
