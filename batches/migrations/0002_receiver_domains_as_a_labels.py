"""Recipients stored before non-ASCII domains were admitted as IDNA A-labels (sending/addresses.py)
get their A-label now: `ann@bücher.example` → `ann@xn--bcher-kva.example`.

Such a row could not be delivered (smtplib refuses a non-ASCII RCPT TO), escaped the blacklist
(bounces name the A-label) and counted under a Unicode mailbox type. A row is rewritten in place (its
id, and so its place in a task's walk, stays); one whose A-label is in its list already, or that
has no A-label, is left as it was and counted in the migration's output.
"""

import idna
from django.db import migrations


def _a_label(email: str) -> str | None:
    local, at, domain = email.rpartition("@")
    if not at or not local.isascii():
        return None
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}".lower()
    except (UnicodeError, ValueError):
        return None


def forwards(apps, schema_editor):
    Receiver = apps.get_model("batches", "Receiver")
    # Few rows: read them all before writing any.
    rows = list(Receiver.objects.filter(email__regex=r"[^\x01-\x7f]").values_list("pk", "receiver_list_id", "email"))
    converted = left = 0
    for pk, list_id, email in rows:
        new = _a_label(email)
        if new is None or len(new) > 254 or Receiver.objects.filter(receiver_list_id=list_id, email=new).exists():
            left += 1
            continue
        Receiver.objects.filter(pk=pk).update(email=new)
        converted += 1
    if converted or left:
        print(f"\n  recipients with a non-ASCII domain: {converted} now stored as A-labels, {left} left as they were")


class Migration(migrations.Migration):

    dependencies = [
        ("batches", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True),
    ]
