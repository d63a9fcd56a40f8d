from celery import shared_task

from ops.periodic import run_due_jobs


# Beat sends this every SES_TICK_SECONDS (sesconsole/celery.py); the jobs decide whether they are due.
# Expired ticks are simply dropped: the next one comes a few seconds later.
@shared_task(name="sesconsole.tick", ignore_result=True)
def tick() -> list[str]:
    return [str(result) for result in run_due_jobs()]
