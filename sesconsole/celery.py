"""The Celery app. Configured from Django settings (CELERY_ namespace); tasks live in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sesconsole.settings")

app = Celery("sesconsole")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_tick(sender, **kwargs):
    # One beat entry: `tick` decides which periodic jobs are due, so cron-based installs that run
    # `manage.py tick` and beat-based installs share one schedule (ops/periodic.py).
    from django.conf import settings

    interval = settings.SES_TICK_SECONDS
    sender.add_periodic_task(interval, sender.signature("sesconsole.tick"), name="tick", expires=interval * 0.9)
