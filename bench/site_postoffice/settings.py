"""The peer of bench/delivery.py: sesconsole's settings plus django-post-office, for the benchmark only.

post_office is never in the production INSTALLED_APPS; bench/delivery.py runs the peer in a process
of its own with DJANGO_SETTINGS_MODULE=bench.site_postoffice.settings and a database of its own.
"""

from sesconsole.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]  # noqa: F405

# post_office's defaults (5 threads per process, batches of 100, a log row per email), sending with
# Django's SMTP backend to the EMAIL_HOST / EMAIL_PORT the benchmark points at its sink.
POST_OFFICE = {
    "BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"},
    "DEFAULT_PRIORITY": "medium",
}
