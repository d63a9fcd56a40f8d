"""Recipient lists themselves (SPEC §3.5, §8): create, find, claim for an upload, delete.

- ListError: a refusal with the SDK's error code (NOT_EXIST, IS_OPERATING, …); nothing was written.
- create_list(account, name, description), list_for_account(account, receiver_id)
- check_can_add(list): may recipients join it now (not while it loads or a started task walks it)
- begin_upload(list, size, upload_file): claim the list for one upload (status 2)
- delete_list(list)

Rows come in through batches.lists.importer (docs/lists.md).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Account
from batches.models import BatchTask, Receiver, ReceiverList, ReceiverListError
from core import unusable

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 300  # the SDK's ReceiverDescIllegal: 1~300 characters
# Characters no text may carry (core.unusable): a name or description holding one is refused.
_CONTROL = unusable.UNUSABLE

NOT_EXIST = "OperationDenied.ReceiverNotExist"
IS_OPERATING = "OperationDenied.ReceiverIsOperating"


class ListError(Exception):
    """A refusal with the SDK's error code; nothing was written."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message



def _clean_name(name: object) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME_LENGTH or _CONTROL.search(name):
        raise ListError(
            "InvalidParameterValue.ReceiverNameIllegal",
            _("The list name must be 1 to %(MAX_NAME_LENGTH)s characters without control characters.") % {"MAX_NAME_LENGTH": MAX_NAME_LENGTH},
        )
    return name


def _clean_description(description: object) -> str:
    description = description.strip() if isinstance(description, str) else ""
    if len(description) > MAX_DESCRIPTION_LENGTH or _CONTROL.search(description):
        raise ListError(
            "InvalidParameterValue.ReceiverDescIllegal",
            _("The description must be at most %(MAX_DESCRIPTION_LENGTH)s characters without control characters.") % {"MAX_DESCRIPTION_LENGTH": MAX_DESCRIPTION_LENGTH},
        )
    return description


def create_list(account: Account, name: str, description: str = "") -> ReceiverList:
    name, description = _clean_name(name), _clean_description(description)
    with transaction.atomic():
        if ReceiverList.objects.filter(account=account, name=name).exists():
            raise ListError("InvalidParameterValue.RepeatReceiverName", _("A list named “%(name)s” exists already.") % {"name": name})
        return ReceiverList.objects.create(account=account, name=name, description=description)


def list_for_account(account: Account, receiver_id: object) -> ReceiverList:
    """The account's list; another account's id reads exactly like a missing one."""
    if isinstance(receiver_id, int) and not isinstance(receiver_id, bool):
        found = ReceiverList.objects.filter(account=account, pk=receiver_id).first()
        if found is not None:
            return found
    raise ListError(NOT_EXIST, _("There is no recipient list %(receiver_id)s.") % {"receiver_id": receiver_id})


def _sending_tasks(receiver_list: ReceiverList):
    return receiver_list.tasks.filter(status__in=(BatchTask.SENDING, BatchTask.PAUSED))


def check_can_add(receiver_list: ReceiverList) -> None:
    """New recipients may join a list unless it is being loaded or a started task walks it.

    A started task has counted its recipients (RequestCount, CacheCount); rows added under it would
    be sent without being counted, or counted without being sent.
    """
    if receiver_list.status == ReceiverList.UPLOADING:
        raise ListError(IS_OPERATING, _("The list is being uploaded: wait until the upload has finished."))
    if _sending_tasks(receiver_list).exists():
        raise ListError(IS_OPERATING, _("A batch task is sending to this list: add recipients once it has finished."))


def begin_upload(receiver_list: ReceiverList, size: int, upload_file: str = "") -> None:
    """Claim the list for one upload (status 2), so two uploads never load it at once.

    `upload_file` names the upload's file (in DATA_DIR/uploads): it becomes the list's current upload,
    and a task of any other file (an earlier upload's, redelivered) leaves the list alone.
    """
    check_can_add(receiver_list)
    claimed = ReceiverList.objects.filter(pk=receiver_list.pk).exclude(status=ReceiverList.UPLOADING).update(
        status=ReceiverList.UPLOADING, bytes_total=size, bytes_done=0, upload_error="", upload_file=upload_file,
    )
    if claimed != 1:
        raise ListError(IS_OPERATING, _("The list is being uploaded: wait until the upload has finished."))
    receiver_list.refresh_from_db()


def delete_list(receiver_list: ReceiverList) -> None:
    """Delete a list and its recipients, unless it is loading or a batch task refers to it."""
    if receiver_list.status == ReceiverList.UPLOADING:
        raise ListError(IS_OPERATING, _("The list is being uploaded: delete it once the upload has finished."))
    if receiver_list.tasks.filter(status__in=BatchTask.ACTIVE).exists():
        raise ListError(IS_OPERATING, _("A batch task that has not finished uses this list: cancel it first."))
    if receiver_list.tasks.exists():
        # Finished tasks keep their list: their counts and the send log refer to its recipients.
        raise ListError("OperationDenied", _("Batch tasks have been sent to this list: it stays as their record."))
    with transaction.atomic():
        ReceiverListError.objects.filter(receiver_list=receiver_list).delete()
        # Raw delete: a million recipients in one statement, not loaded into Python first.
        Receiver.objects.filter(receiver_list=receiver_list)._raw_delete(using="default")
        receiver_list.delete()

