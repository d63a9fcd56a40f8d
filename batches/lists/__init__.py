"""Recipient lists (SPEC §3.5, §5, §8); the whole story in docs/lists.md.

- services: the lists themselves (create, find, claim for an upload, delete; ListError)
- importer: rows into a list (a CSV upload streamed, or an API call), checked and loaded in batches
- uploads: upload files on disk, claiming them, running the import of one (and import_receivers')
- tasks: the Celery task `batches.import_list`, handing imports out, the periodic requeue
- views, forms, urls: the console pages
"""
