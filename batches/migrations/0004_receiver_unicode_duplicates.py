"""What 0002 left: a list that holds one mailbox under two spellings, `ann@bücher.example` and
`ann@xn--bcher-kva.example` (or two Unicode spellings of one A-label), would be mailed twice; a row
with no A-label (`cy@☃.example`, which Django once admitted) is left as it is.

1. Rows of one list whose addresses have the same A-label are one recipient: the first loaded (the
   lowest id, as an import keeps the first of two duplicates, and the one a task's walk reaches
   first) stays, stored as the A-label; the others are deleted. The list counts them as duplicates
   (`duplicate_count`), and its `count` is its rows again. A started task of that list whose walk
   has not reached a deleted row no longer waits for it (`request_count` and `cache_count` lose it).
   Each deleted row is printed (list, address, whether its template data differed from the kept one).
2. A row with no A-label is left: delivery refuses it as an invalid recipient (no ASCII form, no
   SMTPUTF8), which blacklists the address, and the rest of the task goes on. Counted in the output.
"""

import idna
from django.db import migrations
from django.db.models import F
from django.db.models.functions import Greatest

ACTIVE_TASK_STATUSES = (1, 5, 6)  # BatchTask.PENDING, SENDING, PAUSED


def _a_label(email: str) -> str | None:
    local, at, domain = email.rpartition("@")
    if not at or not local.isascii():
        return None
    try:
        address = f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}".lower()
    except (UnicodeError, ValueError):
        return None
    return address if len(address) <= 254 else None


def forwards(apps, schema_editor):
    Receiver = apps.get_model("batches", "Receiver")
    ReceiverList = apps.get_model("batches", "ReceiverList")
    BatchTask = apps.get_model("batches", "BatchTask")

    unicode_rows = list(
        Receiver.objects.filter(email__regex=r"[^\x01-\x7f]").values_list("pk", "receiver_list_id", "email", "template_data")
    )
    groups: dict[tuple[int, str], list[tuple[int, str, object]]] = {}
    no_a_label = 0
    for pk, list_id, email, data in unicode_rows:
        a_label = _a_label(email)
        if a_label is None:
            no_a_label += 1
            continue
        groups.setdefault((list_id, a_label), []).append((pk, email, data))
    if groups:
        # The rows already stored as those A-labels (0002 rewrote one row per mailbox, or the list had it).
        for list_id, a_label in list(groups):
            for pk, email, data in Receiver.objects.filter(receiver_list_id=list_id, email=a_label).values_list(
                "pk", "email", "template_data"
            ):
                groups[(list_id, a_label)].append((pk, email, data))

    deleted_by_list: dict[int, list[int]] = {}
    rewritten = 0
    for (list_id, a_label), rows in sorted(groups.items()):
        rows.sort()
        (keep_pk, keep_email, keep_data), others = rows[0], rows[1:]
        if others:
            Receiver.objects.filter(pk__in=[pk for pk, _, _ in others]).delete()
            deleted_by_list.setdefault(list_id, []).extend(pk for pk, _, _ in others)
            for pk, email, data in others:
                same = "same template data" if data == keep_data else "different template data, the kept row's is used"
                print(f"\n  list {list_id}: deleted {email!r} (row {pk}), a duplicate of row {keep_pk} ({a_label}); {same}", end="")
        if keep_email != a_label:
            Receiver.objects.filter(pk=keep_pk).update(email=a_label)
            rewritten += 1

    for list_id, deleted in deleted_by_list.items():
        ReceiverList.objects.filter(pk=list_id).update(
            count=Receiver.objects.filter(receiver_list_id=list_id).count(),
            duplicate_count=F("duplicate_count") + len(deleted),
        )
        for task in BatchTask.objects.filter(receiver_list_id=list_id, status__in=ACTIVE_TASK_STATUSES):
            not_reached = sum(1 for pk in deleted if pk > task.cursor)
            if not_reached:
                BatchTask.objects.filter(pk=task.pk).update(
                    request_count=Greatest(F("request_count") - not_reached, 0),
                    cache_count=Greatest(F("cache_count") - not_reached, 0),
                )

    deleted_total = sum(len(d) for d in deleted_by_list.values())
    if deleted_total or rewritten or no_a_label:
        print(
            f"\n  recipients with a non-ASCII domain: {deleted_total} duplicates deleted, {rewritten} more stored as"
            f" A-labels, {no_a_label} without an A-label left (refused as invalid when sent)"
        )


class Migration(migrations.Migration):

    dependencies = [
        ("batches", "0003_list_current_upload"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True),
    ]
