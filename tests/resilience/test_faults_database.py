"""PostgreSQL goes away and comes back (SPEC §8): a batch resumes where it stopped, and the API says
"try again" (FailedOperation.ServiceNotAvailable) at once instead of hanging or failing obscurely.

The database is a private cluster holding a copy of the test database (see conftest.private_postgres);
`pg_ctl stop -m fast` ends every session and shuts the server down, as an operator's restart does.
"""

import time

from django.db import connection
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ses.v20201002 import models

from batches import services
from batches.models import BatchTask, Receiver
from batches.tests.batch_fixtures import make_list
from domains.models import DomainDay
from sending.models import Message
from tests.resilience.conftest import (
    SENDER,
    SERVER_ONLY,
    assert_each_recipient_delivered_once,
    batch_finished,
    db_poll,
    describe_batch,
    recover,
    send_email,
    wait_until,
    worker_env,
)

pytestmark = SERVER_ONLY

RECIPIENTS = 200
CONCURRENCY = 2


def test_a_database_restart_mid_batch_resumes_where_it_stopped(
    account, news_template, smtp_sink, private_postgres, broker, workers, fast_recovery
):
    receiver_list = make_list(account, RECIPIENTS)
    workers.start(worker_env(broker, smtp_sink, SES_BATCH_CHUNK=20), "worker", concurrency=CONCURRENCY)
    task = services.create_task(
        account, from_address=SENDER, receiver_list_id=receiver_list.pk, template_id=news_template.pk
    )
    try:
        wait_until(lambda: len(smtp_sink.received) >= RECIPIENTS // 4, 60, "a quarter of the batch at the relay")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {describe_batch(task, smtp_sink)}\n{workers.output}") from None

    private_postgres.restart(down_for=2)
    at_restart = len(smtp_sink.received)
    connection.close()  # this process's session ended with the server
    task.refresh_from_db()
    assert task.status == BatchTask.SENDING and task.send_count < RECIPIENTS, "the restart came too late"

    try:
        wait_until(db_poll(lambda: batch_finished(task)), 120, "the batch to finish", every=0.5, between=recover)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {describe_batch(task, smtp_sink)}\n{workers.output}") from None
    print(f"database restarted at {at_restart} of {RECIPIENTS} received")

    # Resumed where it stopped: every receiver of the list has exactly one message, none skipped.
    messages = Message.objects.filter(batch_task=task)
    assert (task.send_count, task.skipped_count, task.cache_count) == (RECIPIENTS, 0, 0)
    assert sorted(messages.values_list("recipient", flat=True)) == sorted(
        Receiver.objects.filter(receiver_list=receiver_list).values_list("email", flat=True)
    )
    # A pool process whose SMTP transaction was accepted while it could not record the reply leaves
    # that message "inside SMTP": the sweeper sends it again — at most one per pool process.
    twice = assert_each_recipient_delivered_once(messages, smtp_sink, allowed_twice=CONCURRENCY)
    print(f"recipients sent twice: {len(twice)} (at most {CONCURRENCY})")


def sdk_error_code(call) -> tuple[str, float]:
    started = time.monotonic()
    try:
        call()
    except TencentCloudSDKException as exc:
        return exc.get_code(), time.monotonic() - started
    raise AssertionError("the call succeeded")


def test_the_api_answers_service_not_available_while_the_database_is_down(
    account, news_template, verified_domain, private_postgres, broker, ses
):
    first = send_email(ses, news_template, "before@inbox.example")

    private_postgres.stop()
    connection.close()
    code, seconds = sdk_error_code(lambda: send_email(ses, news_template, "during@inbox.example"))
    # An answer, not a hang: a hung request ends in the SDK's ClientNetworkError, not this code.
    assert code == "FailedOperation.ServiceNotAvailable"
    print(f"the API answered in {seconds:.1f}s while the database was down")
    code, _ = sdk_error_code(lambda: ses.ListEmailTemplates(models.ListEmailTemplatesRequest()))
    assert code == "FailedOperation.ServiceNotAvailable"

    private_postgres.start()
    last = send_email(ses, news_template, "after@inbox.example")

    # Nothing of the refused send was written: two messages, two counted against the cap.
    assert dict(Message.objects.values_list("recipient", "message_id")) == {
        "before@inbox.example": first, "after@inbox.example": last,
    }
    assert DomainDay.objects.get(domain=verified_domain).sent == 2
