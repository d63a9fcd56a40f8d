"""Bad input, generated, against the recipient-list import (issue 6): malformed CSV files — binary
junk, other encodings, byte order marks, huge fields, missing and extra columns, broken quotes,
NUL and control characters, HTML in variables — run through the worker's task
(batches.lists.tasks.import_list) as an upload would, and through the console's upload form.

The design (batches/lists/importer.py): good rows load, each bad row is listed with its line number; a bad
header refuses the file; a line that is not UTF-8 stops the import there, keeping what loaded
before it. So the task never raises, the list always ends DONE (never stuck "uploading"), and every
recipient it created is a valid address from the file (from before the stopping line, if any) with
clean template variables named by the header.
"""

from __future__ import annotations

import csv
import os
import re
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batches.lists import importer
from batches.lists import services as list_services
from batches.lists.tasks import import_list
from batches.models import Receiver, ReceiverList, ReceiverListError
from core import unusable
from sending.models import SensitiveWord
from sending.review import review_send, send_rules, template_data_errors

# SES_FUZZ_SCALE=10 runs ten times the examples, for a deeper search than CI's bounded run.
FUZZ_SCALE = float(os.environ.get("SES_FUZZ_SCALE", "1"))
HYPOTHESIS = settings(
    max_examples=round(40 * FUZZ_SCALE), deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
# What no loaded value may hold: the one definition (NUL, controls, lone surrogates, noncharacters).
CONTROL = unusable.UNUSABLE

# --- generated files -----------------------------------------------------------------------------

_emails = st.one_of(
    st.sampled_from([
        "ann@example.com", "Bob@Example.COM", "cy@example.com", "ann@example.com", " dee@example.com ",
        "not-an-address", "", "@", "a@b", "x@" + "y" * 300 + ".com", "a\x00b@example.com", "ann@example.com\x00",
        "\ufeffeve@example.com", "fay@exa mple.com", '"quoted"@example.com', "ünï@exämple.com", "a@[127.0.0.1]",
        "<g@example.com>", "h@example.com;i@example.com",
    ]),
    st.emails().map(str),
    st.text(max_size=20),
)
_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from([
        "", "Ann", "<b>x</b>", "<script>alert(1)</script>", "a < b", '"', '""', 'say "hi"', "a,b", "\x00", "x\x07y",
        "\u202eevil", "x" * 900, "{{name}}", "=cmd|' /C calc'!A0", "\r", "😀", "\x85", "a\x9fb", "\ufffe", "\ufdd0",
        "\U0010ffff",
    ]),
    # what the content review refuses (issue 12): a staff word, contact details, an invite
    st.sampled_from([
        "Best gambling odds", "g.a.m.b.l.i.n.g", "WeChat: abc_123", "加微信 abc123", "https://t.me/joinchat/AbC",
        "QQ群 123456", 'say "WeChat: abc_123"', "ｗｅｃｈａｔ：ａｂｃ＿１２３",
    ]),
)
_headers = st.one_of(
    st.just(None),  # no header row
    st.lists(st.sampled_from(["name", "code", "city", "Name", "_x", "x1"]), max_size=3, unique=True).map(
        lambda names: ["email", *names]
    ),
    st.lists(st.sampled_from(["1bad", "with space", "", "na-me", "名字", "name", "name", "<b>"]), min_size=1, max_size=3).map(
        lambda names: ["邮箱", *names]
    ),
)


def _cell(text: str, quote: bool) -> str:
    return '"' + text.replace('"', '""') + '"' if quote else text


@st.composite
def csv_files(draw) -> bytes:
    header = draw(_headers)
    width = len(header) if header else 1
    lines = []
    if header:
        lines.append(",".join(header))
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        cells = [draw(_emails)] + [draw(_values) for _ in range(width - 1)]
        # Now and then a row with a column too many or too few.
        cells = cells[: max(0, len(cells) + draw(st.sampled_from([0, 0, 0, -1, 1])))] if draw(st.booleans()) else cells
        if len(cells) > width:
            cells.append(draw(_values))
        quote = draw(st.sampled_from([False, False, True]))
        line = ",".join(_cell(cell, quote) for cell in cells)
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            line = line + '"'  # a quote that never closes
        lines.append(line)
    ending = draw(st.sampled_from(["\n", "\r\n", "\r", "\n\n"]))
    text = ending.join(lines) + draw(st.sampled_from(["", ending]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1", "gb18030"]))
    raw = text.encode(encoding, "replace")
    mangle = draw(st.sampled_from(["none", "none", "splice", "truncate", "huge-line", "nul"]))
    if mangle == "splice":
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=32)) + raw[at:]
    elif mangle == "truncate":
        raw = raw[: draw(st.integers(min_value=0, max_value=len(raw)))]
    elif mangle == "huge-line":
        raw += b"\nhuge@example.com," + b"x" * draw(st.integers(min_value=8000, max_value=40_000)) + b"\nlast@example.com\n"
    elif mangle == "nul":
        raw = raw.replace(b",", b"\x00,", 1) + b"\x00\x00\n"
    return raw


csv_inputs = st.one_of(csv_files(), csv_files(), csv_files(), st.binary(max_size=300))

# --- the checks ----------------------------------------------------------------------------------


WORDS = ["gambling"]
REVIEW_RULES = send_rules(WORDS)


@pytest.fixture
def uploads(settings, tmp_path, db):
    settings.DATA_DIR = tmp_path
    SensitiveWord.objects.bulk_create([SensitiveWord(word=word) for word in WORDS])
    return tmp_path / "uploads"


def _stopping_line(upload_error: str) -> int | None:
    match = re.search(r"not UTF-8 \(line (\d+)\)", upload_error)
    return int(match.group(1)) if match else None


def _data_rows(raw: bytes) -> int | None:
    """The file's rows the import must account for, each once (loaded, invalid or duplicate): its
    non-blank physical lines, up to and including a line that is not UTF-8, but the header row.
    None when that is not plain to see: the row deciding whether there is a header has a quote."""
    rows = 0
    decided = False  # the first row that parses says whether the file has a header
    for number, piece in enumerate(raw.split(b"\n"), start=1):
        if len(piece) > importer.MAX_LINE_BYTES:
            rows += 1  # too long to be a row: refused unread
            continue
        if number == 1 and piece.startswith(b"\xef\xbb\xbf"):
            piece = piece[3:]
        try:
            line = piece.decode("utf-8")
        except UnicodeDecodeError:
            return rows + 1  # refused, and the import stops there
        if not line.strip():
            continue
        if not decided:
            if '"' in line:
                return None
            decided = True
            if importer._is_header(line.rstrip("\r").split(",")):
                continue
        rows += 1
    return rows


def check_import(receiver_list: ReceiverList, raw: bytes) -> None:
    receiver_list.refresh_from_db()
    assert receiver_list.status == ReceiverList.DONE
    receivers = list(Receiver.objects.filter(receiver_list=receiver_list))
    rows = _data_rows(raw)
    # A refused header stops the file before its rows; otherwise no good row may go missing.
    if rows is not None and (not receiver_list.upload_error or _stopping_line(receiver_list.upload_error)):
        assert receiver_list.count + receiver_list.invalid_count + receiver_list.duplicate_count == rows, (
            receiver_list.count, receiver_list.invalid_count, receiver_list.duplicate_count, rows)
    stop = _stopping_line(receiver_list.upload_error)
    loaded_part = raw if stop is None else b"\n".join(raw.split(b"\n")[: stop - 1])
    text = loaded_part.decode("utf-8", "replace").lower()
    source = text + "\n" + text.replace('""', '"')  # an address may be written with CSV quoting
    names = None
    for receiver in receivers:
        try:
            validate_email(receiver.email)
        except ValidationError:
            pytest.fail(f"an invalid address was loaded: {receiver.email!r}")
        assert receiver.email == receiver.email.lower()
        assert receiver.email in source, "a recipient that is not in the file (or comes after its stopping line)"
        data = receiver.template_data
        assert not template_data_errors(data)
        assert review_send(REVIEW_RULES, data).approved, f"a row the review refuses was loaded: {data!r}"
        assert not any(CONTROL.search(value) for value in data.values() if isinstance(value, str))
        assert names is None or set(data) <= names or not data
        names = names or (set(data) if data else None)
    assert len({r.email for r in receivers}) == len(receivers)
    errors = list(ReceiverListError.objects.filter(receiver_list=receiver_list))
    assert receiver_list.invalid_count >= len(errors)
    line_count = raw.count(b"\n") + 1
    assert all(1 <= error.line <= line_count and error.reason.strip() for error in errors)


@HYPOTHESIS
@given(raw=csv_inputs)
def test_the_import_task_loads_the_good_rows_and_lists_the_bad_ones(account, uploads, raw):
    with transaction.atomic():
        receiver_list = list_services.create_list(account, f"Fuzzed {uuid.uuid4().hex}")
        uploads.mkdir(parents=True, exist_ok=True)
        path = uploads / f"fuzz-{uuid.uuid4().hex}.csv"
        path.write_bytes(raw)
        list_services.begin_upload(receiver_list, len(raw))

        import_list(receiver_list.pk, str(path))  # exactly what the worker runs; it must not raise

        check_import(receiver_list, raw)
        assert not path.exists()
        transaction.set_rollback(True)


_REVIEWED = st.sampled_from([
    "Best gambling odds", "g.a.m.b.l.i.n.g", "WeChat: abc_123", "加微信 abc123", "https://t.me/joinchat/AbC",
    "QQ群 123456", "ｗｅｃｈａｔ：ａｂｃ＿１２３", "Ann", "Paris", "a, b", 'say "hi"', "the address book", "加油", "信息",
])


@st.composite
def reviewed_files(draw) -> tuple[bytes, int]:
    """Well-formed files whose variables are often what the review refuses; and their row count."""
    rows = draw(st.lists(st.tuples(_REVIEWED, _REVIEWED, st.booleans()), min_size=1, max_size=12))
    lines = ["email,name,note"] + [
        f"r{n}@example.com," + ",".join(_cell(value, quote or '"' in value or "," in value) for value in (a, b))
        for n, (a, b, quote) in enumerate(rows)
    ]
    return ("\n".join(lines) + "\n").encode(), len(rows)


@HYPOTHESIS
@given(file=reviewed_files())
def test_no_row_the_content_review_refuses_is_loaded_and_every_other_row_is(account, uploads, file):
    raw, rows = file
    with transaction.atomic():
        receiver_list = list_services.create_list(account, f"Reviewed {uuid.uuid4().hex}")
        uploads.mkdir(parents=True, exist_ok=True)
        path = uploads / f"fuzz-{uuid.uuid4().hex}.csv"
        path.write_bytes(raw)
        list_services.begin_upload(receiver_list, len(raw))

        import_list(receiver_list.pk, str(path))

        check_import(receiver_list, raw)
        values = [row[1:] for row in csv.reader(raw.decode().splitlines()[1:])]
        refused = sum(not review_send(REVIEW_RULES, {"name": a, "note": b}).approved for a, b in values)
        assert (receiver_list.count, receiver_list.invalid_count) == (rows - refused, refused)
        transaction.set_rollback(True)


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\ufffe", "\U0001ffff"])
def test_an_unusable_character_makes_its_row_bad_with_its_line_number(account, uploads, char):
    receiver_list = list_services.create_list(account, "Unusable")
    path = uploads / "unusable.csv"
    uploads.mkdir(parents=True, exist_ok=True)
    text = f"email,name\nann@example.com,Ann\nbob@example.com,B{char}b\ncy{char}@example.com,Cy\ndee@example.com,Dee\n"
    path.write_bytes(text.encode())
    list_services.begin_upload(receiver_list, path.stat().st_size)

    import_list(receiver_list.pk, str(path))  # never raises, on PostgreSQL either

    receiver_list.refresh_from_db()
    assert (receiver_list.status, receiver_list.count, receiver_list.invalid_count) == (ReceiverList.DONE, 2, 2)
    assert sorted(Receiver.objects.filter(receiver_list=receiver_list).values_list("email", flat=True)) == [
        "ann@example.com", "dee@example.com",
    ]
    errors = ReceiverListError.objects.filter(receiver_list=receiver_list).order_by("line")
    assert [error.line for error in errors] == [3, 4]
    assert unusable.code_point(char) in errors[0].reason
    assert not any(CONTROL.search(error.content + error.reason) for error in errors)  # stored as "?"


def test_a_bad_header_refuses_the_file_and_loads_nothing(account, uploads):
    receiver_list = list_services.create_list(account, "Bad header")
    path = uploads / "bad.csv"
    uploads.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"email,1st name\nann@example.com,Ann\n")
    list_services.begin_upload(receiver_list, path.stat().st_size)

    import_list(receiver_list.pk, str(path))

    receiver_list.refresh_from_db()
    assert receiver_list.status == ReceiverList.DONE
    assert "1st name" in receiver_list.upload_error
    assert not Receiver.objects.filter(receiver_list=receiver_list).exists()


@HYPOTHESIS
@given(
    raw=csv_inputs,
    name=st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "x" * 300, "a\x00b", "List"])),
    description=st.one_of(st.text(max_size=30), st.sampled_from(["x" * 400, "\x07"])),
    filename=st.sampled_from(["list.csv", "", "../../etc/passwd", "a\x00.csv", "名单.csv", "x" * 300 + ".csv"]),
)
def test_the_upload_form_never_fails_and_a_refusal_creates_no_list(
    client, owner, uploads, django_capture_on_commit_callbacks, raw, name, description, filename
):
    client.force_login(owner)
    with transaction.atomic():
        before = set(ReceiverList.objects.values_list("pk", flat=True))
        data = {"name": name, "description": description}
        if filename:
            data["file"] = SimpleUploadedFile(filename, raw, "text/csv")
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(reverse("lists"), data)
        assert response.status_code in (302, 400), response.status_code
        created = set(ReceiverList.objects.values_list("pk", flat=True)) - before
        if response.status_code == 400:
            assert not created
            assert b"errorlist" in response.content or b"error" in response.content
        else:
            [list_id] = created
            assert len(callbacks) == 1  # the import is queued once the list is committed
            # What the queued task runs in the worker, on the saved file.
            [path] = list(uploads.glob(f"list-{list_id}-*.csv"))
            import_list(list_id, str(path))
            check_import(ReceiverList.objects.get(pk=list_id), raw)
        transaction.set_rollback(True)
