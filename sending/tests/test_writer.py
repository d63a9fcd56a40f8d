"""sending.writer.write_messages, the one writer of messages: the rows and first events it writes, and
their hand-out to delivery once the transaction commits."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from core.clock import platform_today
from sending import tasks, writer
from sending.models import Message, MessageEvent
from sending.tests import send_fixtures
from sending.writer import Recipient, write_messages

sender = send_fixtures.sender
template = send_fixtures.template


@pytest.fixture
def handed(monkeypatch):
    """The groups of ids handed to the broker, with their queue."""
    handed = []
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, queue, **options: handed.append((queue, args[0])))
    return handed


def write(sender, template, recipients, **options):
    return write_messages(
        account=sender.account, domain=sender.domain, sender=sender, template=template, recipients=recipients,
        **options,
    )


@pytest.mark.django_db
def test_one_queued_message_and_one_queued_event_per_recipient(sender, template, handed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        messages = write(sender, template, [
            Recipient("ann@example.org", "Hi Ann", {"name": "Ann"}),
            Recipient("cc@qq.com", "Hi Ann", {"name": "Ann"}, kind="cc"),
        ], from_name="", reply_to="help@alice.example", unsubscribe=2, request_id="r1")
        assert handed == []  # not before the commit

    rows = list(Message.objects.order_by("id").values(
        "recipient", "recipient_kind", "mailbox_type", "subject", "template_data", "from_email", "from_name",
        "reply_to", "unsubscribe", "bulk", "batch_task", "send_day", "request_id", "status", "template",
    ))
    common = {
        "from_email": send_fixtures.SENDER, "from_name": "Alice News", "reply_to": "help@alice.example",
        "unsubscribe": 2, "bulk": False, "batch_task": None, "send_day": platform_today(), "request_id": "r1",
        "status": Message.QUEUED, "template": template.pk, "subject": "Hi Ann", "template_data": {"name": "Ann"},
    }
    assert rows == [
        {**common, "recipient": "ann@example.org", "recipient_kind": "to", "mailbox_type": "example.org"},
        {**common, "recipient": "cc@qq.com", "recipient_kind": "cc", "mailbox_type": "qq.com"},
    ]
    assert [m.pk for m in messages] == list(Message.objects.order_by("id").values_list("pk", flat=True))
    assert list(MessageEvent.objects.order_by("id").values_list("message_id", "kind", "detail")) == [
        (m.pk, "queued", {"request_id": "r1"}) for m in messages
    ]
    assert [ids for _queue, ids in handed] == [[m.pk for m in messages]]


@pytest.mark.django_db
def test_a_batch_chunk_keeps_its_task_its_time_and_is_handed_out_in_groups(
    sender, template, handed, django_capture_on_commit_callbacks
):
    from batches.models import BatchTask
    from batches.tests.batch_fixtures import make_list

    receiver_list = make_list(sender.account, 1)
    task = BatchTask.objects.create(
        account=sender.account, domain=sender.domain, sender=sender, template=template, subject="Hi",
        receiver_list=receiver_list, status=BatchTask.SENDING,
    )
    at = timezone.now() - dt.timedelta(seconds=5)
    with django_capture_on_commit_callbacks(execute=True):
        messages = write(sender, template, [Recipient(f"r{i}@example.org", "Hi") for i in range(5)],
                         from_name="Batch Name", bulk=True, batch_task=task, at=at, hand_out=2)

    assert {(m.batch_task_id, m.bulk, m.created_at, m.from_name) for m in Message.objects.all()} == {
        (task.pk, True, at, "Batch Name")
    }
    request_id = messages[0].request_id
    assert len(request_id) == 32 and {m.request_id for m in messages} == {request_id}
    assert [(event.at, event.detail) for event in MessageEvent.objects.all()] == [
        (at, {"request_id": request_id, "batch_task": task.pk})
    ] * 5
    ids = [m.pk for m in messages]
    assert [group for _queue, group in handed] == [ids[0:2], ids[2:4], ids[4:5]]


@pytest.mark.django_db
def test_nothing_is_written_or_handed_out_for_no_recipient(sender, template, handed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert write(sender, template, []) == []
    assert (Message.objects.count(), MessageEvent.objects.count(), handed) == (0, 0, [])


@pytest.mark.django_db
def test_a_rolled_back_write_hands_nothing_out(sender, template, handed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            write(sender, template, [Recipient("ann@example.org", "Hi")])
            raise RuntimeError("the reservation's transaction fails after the write")
    assert (Message.objects.count(), handed) == (0, [])


@pytest.mark.django_db
def test_a_group_larger_than_the_prepared_statement_takes_is_written_alike(sender, template):
    many = writer.PREPARED_MAX_ROWS + 1
    messages = write(sender, template, [Recipient(f"r{i}@example.org", "Hi") for i in range(many)])
    stored = dict(Message.objects.values_list("recipient", "id"))
    assert [(m.recipient, m.pk) for m in messages] == [(f"r{i}@example.org", stored[f"r{i}@example.org"]) for i in range(many)]
    assert MessageEvent.objects.filter(kind="queued").count() == many
