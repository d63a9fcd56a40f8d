"""Builders for the batch dispatch tests: ready recipient lists, and running a task's chunks here
instead of in a worker. Test modules import the fixtures by name."""

from __future__ import annotations

from batches import services
from batches.models import BatchTask, Receiver, ReceiverList
from sending.tests.send_fixtures import SENDER, sender, template  # noqa: F401  (fixtures)

__all__ = ["SENDER", "sender", "template", "make_list", "drain", "new_task"]


def make_list(account, n: int, *, name: str = "Customers", emails: list[str] | None = None) -> ReceiverList:
    """A ready list of `n` recipients (user0@… ), each with the template's variables."""
    receiver_list = ReceiverList.objects.create(account=account, name=name, status=ReceiverList.DONE)
    emails = emails if emails is not None else [f"user{i}@inbox.example" for i in range(n)]
    Receiver.objects.bulk_create(
        [Receiver(receiver_list=receiver_list, email=e, template_data={"name": f"N{i}", "code": str(i)}) for i, e in enumerate(emails)]
    )
    ReceiverList.objects.filter(pk=receiver_list.pk).update(count=len(emails))
    receiver_list.refresh_from_db()
    return receiver_list


def new_task(account, receiver_list, template, **options) -> BatchTask:
    return services.create_task(
        account, from_address=SENDER, receiver_list_id=receiver_list.pk, template_id=template.pk, **options
    )


def drain(task: BatchTask) -> str:
    """Run chunks as the workers would, until the task stops asking for more."""
    while (result := services.dispatch_chunk(task.pk)) == services.MORE:
        pass
    task.refresh_from_db()
    return result
