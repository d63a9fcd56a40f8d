"""Migration 0004: a list holding one mailbox under two spellings (Unicode and A-label, left by 0002)
keeps its first row, as the A-label; the others are deleted and counted as duplicates. A row with no
A-label stays, and delivery refuses it as an invalid recipient while the rest of the task is sent."""

from __future__ import annotations

import importlib
import unicodedata

import pytest
from django.apps import apps

from batches.models import BatchTask, Receiver, ReceiverList
from batches.tests.batch_fixtures import SENDER, drain, make_list, new_task, sender, template  # noqa: F401
from sending.delivery import deliver_messages
from sending.models import Message

migration = importlib.import_module("batches.migrations.0004_receiver_unicode_duplicates")

BUECHER = "xn--bcher-kva.example"


def emails(receiver_list) -> list[tuple[str, dict]]:
    return list(Receiver.objects.filter(receiver_list=receiver_list).order_by("id").values_list("email", "template_data"))


def counts(receiver_list) -> tuple[int, int]:
    receiver_list.refresh_from_db()
    return receiver_list.count, receiver_list.duplicate_count


def legacy_list(account, name: str, rows: list[tuple[str, dict]]) -> ReceiverList:
    """A list as older versions stored it: rows inserted as they are, count = rows."""
    rl = ReceiverList.objects.create(account=account, name=name, status=ReceiverList.DONE)
    for email, data in rows:
        Receiver.objects.create(receiver_list=rl, email=email, template_data=data)
    ReceiverList.objects.filter(pk=rl.pk).update(count=len(rows), duplicate_count=1)
    return rl


def test_the_first_row_of_a_mailbox_stays_as_its_a_label_and_the_others_go(account, capsys):
    nfd = unicodedata.normalize("NFD", "cat@bücher.example")  # another Unicode spelling of the same name
    rl = legacy_list(account, "News", [
        ("ann@bücher.example", {"n": "ann first"}), (f"ann@{BUECHER}", {"n": "ann second"}),
        (f"bob@{BUECHER}", {"n": "bob first"}), ("bob@bücher.example", {"n": "bob second"}),
        ("cat@bücher.example", {"n": "cat first"}), (nfd, {"n": "cat second"}),
        ("cy@☃.example", {"n": "cy"}), ("eve@example.com", {"n": "eve"}),
    ])
    other = legacy_list(account, "Other", [("ann@bücher.example", {"n": "other ann"})])

    migration.forwards(apps, None)

    assert emails(rl) == [
        (f"ann@{BUECHER}", {"n": "ann first"}), (f"bob@{BUECHER}", {"n": "bob first"}),
        (f"cat@{BUECHER}", {"n": "cat first"}), ("cy@☃.example", {"n": "cy"}), ("eve@example.com", {"n": "eve"}),
    ]
    assert counts(rl) == (5, 1 + 3)  # its earlier duplicates, and the three deleted rows
    assert emails(other) == [(f"ann@{BUECHER}", {"n": "other ann"})]  # another list's row is not a duplicate
    assert counts(other) == (1, 1)
    out = capsys.readouterr().out
    assert f"list {rl.pk}: deleted 'ann@xn--bcher-kva.example'" in out and "different template data" in out
    assert "3 duplicates deleted, 3 more stored as A-labels, 1 without an A-label left" in out

    migration.forwards(apps, None)  # again: nothing changes
    assert len(emails(rl)) == 5 and counts(rl) == (5, 4)


def test_a_started_task_stops_waiting_for_the_rows_it_has_not_reached(account, verified_domain, sender, template):  # noqa: F811
    rl = legacy_list(account, "News", [
        ("ann@bücher.example", {}), (f"ann@{BUECHER}", {}), ("eve@example.com", {}), ("bob@bücher.example", {}),
        (f"bob@{BUECHER}", {}),
    ])
    ids = [pk for pk, in Receiver.objects.filter(receiver_list=rl).order_by("id").values_list("id")]
    started = new_task(account, rl, template)
    # Walked up to ann's second row (ann's A-label row was reached, bob's second row was not).
    BatchTask.objects.filter(pk=started.pk).update(status=BatchTask.SENDING, request_count=5, send_count=2,
                                                  cache_count=3, cursor=ids[1])
    finished = new_task(account, rl, template)
    BatchTask.objects.filter(pk=finished.pk).update(status=BatchTask.DONE, request_count=5, send_count=5,
                                                   cache_count=0, cursor=ids[-1])

    migration.forwards(apps, None)

    started.refresh_from_db(), finished.refresh_from_db()
    assert (started.request_count, started.cache_count) == (4, 2)  # bob's second row is gone, ann's was sent
    assert (finished.request_count, finished.cache_count) == (5, 0)


def test_after_the_migration_a_task_mails_each_mailbox_once_and_refuses_the_row_without_a_label(
    smtp_sink, account, verified_domain, sender, template,  # noqa: F811
):
    rl = legacy_list(account, "News", [
        ("ann@bücher.example", {"name": "Ann", "code": "1"}), (f"ann@{BUECHER}", {"name": "Ann", "code": "2"}),
        ("cy@☃.example", {"name": "Cy", "code": "3"}), ("eve@example.com", {"name": "Eve", "code": "4"}),
    ])
    migration.forwards(apps, None)
    task = new_task(account, rl, template)

    drain(task)
    deliver_messages(list(Message.objects.filter(batch_task=task).order_by("id").values_list("id", flat=True)))

    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == [f"ann@{BUECHER}", "eve@example.com"]
    outcomes = dict(Message.objects.filter(batch_task=task).values_list("recipient", "outcome"))
    assert outcomes == {f"ann@{BUECHER}": "delivered", "cy@☃.example": "invalid", "eve@example.com": "delivered"}
    assert "has no ASCII form" in Message.objects.get(recipient="cy@☃.example").smtp_reply
    assert not Message.objects.exclude(status__in=Message.FINAL).exists()


@pytest.mark.parametrize("email", ["ann@bücher.example", "cy@☃.example"])
def test_a_list_without_duplicates_is_left_alone(account, email):
    rl = legacy_list(account, "News", [(email, {}), ("eve@example.com", {})])

    migration.forwards(apps, None)

    expected = f"ann@{BUECHER}" if email.startswith("ann") else email
    assert [e for e, _ in emails(rl)] == [expected, "eve@example.com"]
    assert counts(rl) == (2, 1)
