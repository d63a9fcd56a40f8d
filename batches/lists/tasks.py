"""The Celery task of recipient lists (docs/lists.md).

- import_list(list_id, path): the task (`batches.import_list`, routed by that name to the imports
  queue); the uploads hand it out by that name (batches.lists.uploads.start_import)

batches/apps.py imports this module, so a worker that autodiscovers only `<app>.tasks` knows the task.
"""

from __future__ import annotations

from celery import shared_task

from batches.lists import uploads


@shared_task(name="batches.import_list", acks_late=True)
def import_list(list_id: int, path: str) -> None:
    uploads.import_upload(list_id, path)
