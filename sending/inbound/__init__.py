"""Outcomes that arrive after sending: bounce and complaint reports, the MTA's event webhook.

- reports: reading raw DSN (RFC 3464) and ARF (RFC 5965) messages, pure Python
- services: finding our message and recording the outcome (apply_report, apply_webhook)
- views, urls: POST /inbound/report and /inbound/events; `manage.py ingest_mail` reads stdin
The whole story: docs/inbound.md.
"""
