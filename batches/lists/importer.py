"""Recipients into a list: rows checked one by one, loaded in batches (docs/lists.md).

- import_csv(list, fileobj, size=, on_progress=): a CSV upload, streamed and resumable -> ImportResult
- add_receivers(list, rows): CreateReceiverDetail(WithData): all rows checked, then loaded -> ImportResult
- the rows: _clean_email, _clean_data, _review_data (as SendEmail reviews TemplateData), _clip
- the file: _Lines (physical lines, decoded alone), _cells, _is_header, _variables, _resume_point
- the loading: _Loader (batches, duplicates, error rows, counters); _create_new (SQLite),
  _copy_new / _copy_lines (PostgreSQL COPY)
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _json_string
from operator import add as _concat
from typing import BinaryIO

from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from batches.lists.services import ListError, check_can_add
from batches.models import Receiver, ReceiverList, ReceiverListError
from core import addresses, unusable
from sending.review import SendRules, review_send, template_data_errors
from sending.review_text import translate_reason
from sending.services import current_send_rules

# Rows per transaction of an upload: a million rows is 40 commits (each also writes the progress the
# console polls, about every megabyte), and a batch held in memory stays a few megabytes.
BATCH_SIZE = 25_000
# Addresses per duplicate check against the list on SQLite (one IN list of parameters).
_IN_LIST = 2000
# A row is an address (254) and template data (800 bytes as JSON): a much longer line is not a row.
MAX_LINE_BYTES = 8192
MAX_EMAIL_LENGTH = 254
# The SDK documents 800 bytes for the template data of one recipient (TemplateDataLenLimit).
MAX_TEMPLATE_DATA_BYTES = 800
# A direct (COPY) import finds repeated addresses in memory, from a set of their hashes: about 65
# bytes a row in a Python set, so at most this many (~130 MB) are kept. Past it, the rest of the
# import checks each row against the list's unique index (staging table + INSERT … ON CONFLICT DO
# NOTHING, the way a resumed import or a list with recipients already loads): exact, not in memory.
MAX_SEEN_ADDRESSES = 2_000_000
# Every bad row is counted; only the first ones are kept, so a file of garbage cannot fill the disk.
MAX_ERROR_ROWS = 10_000
MAX_CONTENT = 300  # ReceiverListError.content
# A call of CreateReceiverDetail(WithData) carries at most this many recipients (the SDK's doc).
MAX_API_RECIPIENTS = 20_000

HEADER_NAMES = {"email", "e-mail", "mail", "address", "email address", "邮箱", "邮件地址", "收件人"}
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters no text may carry (core.unusable): a row holding one is refused with its line.
_CONTROL = unusable.UNUSABLE
# What COPY's text format escapes (see _copy_text).
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_BOM = b"\xef\xbb\xbf"

# PostgreSQL loads each batch with COPY into this per-session temporary table (see _copy_new).
_STAGING = "receiver_import_stage"

_JSON = json.JSONEncoder()  # json.dumps's defaults, without its per-call set-up

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    loaded: int = 0  # new recipients in the list
    invalid: int = 0  # rows refused (bad address, HTML in a variable, wrong columns…)
    duplicates: int = 0  # rows dropped because the address was already there
    too_long: int = 0  # API only: rows whose address or data is too long (skipped, counted)
    empty: int = 0  # API only: rows without an address (skipped, counted)


class _RowError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- rows ----------------------------------------------------------------------------------------


def _clean_email(raw: str) -> str:
    email = raw.strip()
    if not email:
        raise _RowError(_("the address is empty"))
    if len(email) > MAX_EMAIL_LENGTH:
        raise _RowError(_("the address is longer than %(MAX_EMAIL_LENGTH)s characters") % {"MAX_EMAIL_LENGTH": MAX_EMAIL_LENGTH})
    if not email.isascii():
        # A non-ASCII domain is stored as its IDNA A-label, what RCPT TO and the To header carry; a
        # non-ASCII local part has no ASCII form (no SMTPUTF8) and is refused (core/addresses.py).
        try:
            ascii_email = addresses.to_ascii(email)
        except addresses.NotAsciiAddress:
            ascii_email = ""
        if len(ascii_email) > MAX_EMAIL_LENGTH:
            raise _RowError(_("the address is longer than %(MAX_EMAIL_LENGTH)s characters") % {"MAX_EMAIL_LENGTH": MAX_EMAIL_LENGTH})
        if not ascii_email or not _is_valid_email(ascii_email):
            raise _RowError(_("“%(value)s” is not a valid email address") % {"value": email[:100]})
        return ascii_email.lower()
    if not _is_valid_email(email):
        raise _RowError(_("“%(value)s” is not a valid email address") % {"value": email[:100]})
    return email.lower()


# Domain parts validate_email has judged: a list of a million rows repeats a few thousand domains,
# and the domain pattern is the costly half of the check. Bounded, so a file of junk cannot grow it.
_domain_verdicts: dict[str, bool] = {}


@functools.cache
def _user_part_match():
    """validate_email's pattern for the part before the @, compiled once (not through its lazy proxy)."""
    pattern = validate_email.user_regex
    return re.compile(pattern.pattern, pattern.flags).match


def _is_valid_email(email: str) -> bool:
    """Exactly validate_email's verdict (its own patterns, in its order), the domain's remembered."""
    if "@" not in email or len(email) > 320:
        return False
    user_part, domain_part = email.rsplit("@", 1)
    if not _user_part_match()(user_part):
        return False
    verdict = _domain_verdicts.get(domain_part)
    if verdict is None:
        if len(_domain_verdicts) >= 10_000:
            _domain_verdicts.clear()
        verdict = domain_part in validate_email.domain_allowlist or validate_email.validate_domain_part(domain_part)
        _domain_verdicts[domain_part] = verdict
    return verdict


def _fits_template_data_limit(data: dict) -> bool:
    """Whether `data` as JSON (ensure_ascii=False, UTF-8) is at most MAX_TEMPLATE_DATA_BYTES.

    Without encoding when the answer is certain: a character becomes at most 6 bytes of JSON
    (\\uXXXX), each pair adds at most 8 (quotes, ": ", ", "), the braces 2.
    """
    bound = 2
    for key, value in data.items():
        if type(key) is not str or type(value) is not str:
            break
        bound += 6 * (len(key) + len(value)) + 8
    else:
        if bound <= MAX_TEMPLATE_DATA_BYTES:
            return True
    # Measured before the names and values are checked: a lone surrogate, refused next, has no UTF-8.
    return len(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")) <= MAX_TEMPLATE_DATA_BYTES


def _clean_data(data: dict) -> dict:
    if not data:
        return data
    if not _fits_template_data_limit(data):
        raise _RowError(_("the template variables are longer than %(MAX_TEMPLATE_DATA_BYTES)s bytes") % {"MAX_TEMPLATE_DATA_BYTES": MAX_TEMPLATE_DATA_BYTES})
    errors = template_data_errors(data, _)
    if errors:
        raise _RowError(" ".join(errors).rstrip("."))
    return data


def _review_data(rules: SendRules, data: dict) -> None:
    """The content review of the row's variables (SPEC §4.1), as SendEmail reviews TemplateData."""
    verdict = review_send(rules, data)
    if not verdict.approved:
        raise _RowError(translate_reason(verdict.reason).replace("\n", " "))


def _clip(text: str) -> str:
    text = _CONTROL.sub("?", text.rstrip("\r\n"))
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


# --- CSV import ----------------------------------------------------------------------------------


class _NotUtf8(Exception):
    pass


class _Lines:
    """The file's physical lines, decoded, with their number and the bytes read so far.

    Lines split at b"\\n", which never occurs inside a UTF-8 sequence, so each line decodes alone:
    a bad byte is reported with its line number. A line longer than MAX_LINE_BYTES is skipped to
    its end without being held (it cannot be a row).
    """

    def __init__(self, fileobj: BinaryIO, *, number: int = 0, bytes_read: int = 0):
        self.fileobj = fileobj
        self.number = number  # lines before the file's position (a resumed import starts past them)
        self.bytes_read = bytes_read

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        number = self.number
        while True:
            raw = self.fileobj.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            self.bytes_read += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = self.fileobj.readline(64 * 1024)
                    self.bytes_read += len(raw)
                yield number, None
                continue
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _NotUtf8(number) from None


def _cells(line: str) -> list[str]:
    line = line.rstrip("\r\n")
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line], strict=True))
    except (csv.Error, StopIteration):
        raise _RowError(_("the quotes of this line do not close (a row must fit on one line)")) from None


def _is_header(cells: list[str]) -> bool:
    first = cells[0].strip().lower()
    return first in HEADER_NAMES or "@" not in first


def _resume_point(fileobj: BinaryIO, bytes_done: int) -> tuple[list[str] | None, int]:
    """For an import resumed after `bytes_done` bytes (a batch boundary, on a line end): the
    variables its header named, as the first run read them (None: no row had decided yet), and the
    number of lines before that point. The file is left at `bytes_done` from where it was."""
    start = fileobj.tell()
    variables = None
    lines = _Lines(fileobj)
    for _number, line in lines:
        if lines.bytes_read > bytes_done:
            break
        if line is None or not line.strip():
            continue
        try:
            cells = _cells(line)
        except _RowError:
            continue  # refused in the first run; the next row decides
        variables = _variables(cells) if _is_header(cells) else []
        break
    fileobj.seek(start)
    newlines, left = 0, bytes_done
    while left:
        chunk = fileobj.read(min(left, 1 << 20))
        if not chunk:
            break
        newlines += chunk.count(b"\n")
        left -= len(chunk)
    return variables, newlines


def _variables(header: list[str]) -> list[str]:
    names = [cell.strip() for cell in header[1:]]
    for name in names:
        if not _VARIABLE_NAME.match(name):
            raise ListError(
                "InvalidParameterValue.TemplateDataError",
                _("“%(value)s” in the header row is not a variable name (letters, digits and _; not starting with a digit).") % {"value": name[:50]},
            )
    if len(set(names)) != len(names):
        raise ListError("InvalidParameterValue.TemplateDataError", _("The header row names a variable twice."))
    return names


class _Loader:
    """Inserts rows in batches, drops duplicates, keeps the error rows and the list's counters.

    On PostgreSQL, a list that was empty when the import began gets its rows by COPY straight into
    the recipients table: duplicates within the file are found in Python first, from a set of the
    addresses' hashes (8 bytes a row, not the address). A hash already seen is not taken as proof:
    that row goes through the exact path, a staging table and INSERT … ON CONFLICT DO NOTHING, as
    every row does when the list had recipients already. A batch whose COPY still meets the unique
    index (nothing else adds rows to an uploading list, but should it happen) is rolled back to its
    savepoint and loaded the exact way. The set holds at most MAX_SEEN_ADDRESSES hashes: the rows
    after that are loaded the exact way (the rest of their batch as suspects, the later batches as
    a list with recipients), and the set is dropped.
    """

    def __init__(self, receiver_list: ReceiverList, *, direct: bool = False):
        self.receiver_list = receiver_list
        self.result = ImportResult()
        self.rows: dict[str, dict] = {}
        self.errors: list[ReceiverListError] = []
        self.errors_kept = ReceiverListError.objects.filter(receiver_list=receiver_list).count()
        self.pending_invalid = 0
        self.pending_duplicates = 0  # found in memory, not yet added to the list's counter
        self.direct = direct and connection.vendor == "postgresql"
        self.seen: set[int] = set()  # hashes of the addresses loaded by COPY in this import
        self.suspects: dict[str, dict] = {}  # rows whose hash was seen: checked against the list
        # Direct rows go to the server while the file is read (it loads them meanwhile): the batch's
        # transaction and its COPY (in a savepoint) stay open from its first row to flush().
        self._batch: ExitStack | None = None
        self._stream: ExitStack | None = None
        self._copy = None
        self._pending: list[str] = []
        self._prefix = f"{receiver_list.pk}\t"
        self._suffix = f"\t{timezone.now().isoformat()}\n"

    def add(self, email: str, data: dict | str) -> None:
        """`data` is a dict, or its JSON text for PostgreSQL (see _copy_lines)."""
        if email in self.rows or (self.suspects and email in self.suspects):
            self.result.duplicates += 1
            self.pending_duplicates += 1
        elif self.direct:
            key = hash(email)
            if key in self.seen or len(self.seen) >= MAX_SEEN_ADDRESSES:
                self.suspects[email] = data
            else:
                self.seen.add(key)
                self.rows[email] = data
                self._pending.append(_copy_line(email, data, self._prefix, self._suffix))
                if len(self._pending) >= 1000:
                    self._send()
        else:
            self.rows[email] = data

    def _send(self) -> None:
        if self._stream is None:
            self._batch = ExitStack()
            self._batch.enter_context(transaction.atomic())
            self._stream = ExitStack()
            self._stream.enter_context(transaction.atomic())
            cursor = self._stream.enter_context(connection.cursor())
            self._copy = self._stream.enter_context(cursor.cursor.copy(
                f"COPY {connection.ops.quote_name(Receiver._meta.db_table)} "
                "(receiver_list_id, email, template_data, created_at) FROM STDIN"
            ))
        self._copy.write("".join(self._pending))
        self._pending = []

    def abort(self) -> None:
        """After an exception: roll back the batch being streamed."""
        exc_info = sys.exc_info()
        for stack in (self._stream, self._batch):
            if stack is not None:
                stack.__exit__(*exc_info)
        self._stream = self._batch = self._copy = None

    def refuse(self, line: int, reason: str, content: str) -> None:
        self.result.invalid += 1
        self.pending_invalid += 1
        if self.errors_kept < MAX_ERROR_ROWS:
            self.errors_kept += 1
            self.errors.append(ReceiverListError(
                receiver_list=self.receiver_list, line=line, reason=_CONTROL.sub("?", reason)[:300], content=_clip(content),
            ))

    def full(self) -> bool:
        return len(self.rows) + len(self.suspects) >= BATCH_SIZE or len(self.errors) >= BATCH_SIZE

    def _insert(self) -> int:
        rl = self.receiver_list
        if connection.vendor != "postgresql":
            return _create_new(rl, self.rows)
        if not self.direct:
            return _copy_new(rl, self.rows)
        inserted = 0
        if self.rows:
            from psycopg.errors import UniqueViolation

            stream, self._stream, self._copy = self._stream, None, None
            try:
                with stream:  # ends the COPY, then releases its savepoint (or rolls back to it)
                    inserted = len(self.rows)
            except UniqueViolation:
                log.warning("recipient list %s: an address of the upload was in the list already; loading the rest "
                            "through the duplicate check", rl.pk)
                self.direct = False
                self.seen = set()
                inserted = _copy_new(rl, self.rows)
        if self.suspects:
            inserted += _copy_new(rl, self.suspects)
        return inserted

    def flush(self, **progress) -> None:
        """One transaction: new rows, error rows, and the counters the console polls."""
        rl = self.receiver_list
        offered = len(self.rows) + len(self.suspects)
        inserted = duplicates = 0
        if self._pending:
            self._send()  # the last direct rows (this opens the batch if none was sent yet)
        batch, self._batch = self._batch, None
        if batch is None:
            batch = ExitStack()
            batch.enter_context(transaction.atomic())
        with batch:
            if offered:
                inserted = self._insert()
                duplicates = offered - inserted
            if self.errors:
                ReceiverListError.objects.bulk_create(self.errors)
            ReceiverList.objects.filter(pk=rl.pk).update(
                count=F("count") + inserted,
                invalid_count=F("invalid_count") + self.pending_invalid,
                duplicate_count=F("duplicate_count") + self.pending_duplicates + duplicates,
                **progress,
            )
        self.result.loaded += inserted
        self.result.duplicates += duplicates
        self.rows, self.suspects, self.errors, self.pending_invalid, self.pending_duplicates = {}, {}, [], 0, 0
        if self.direct and len(self.seen) >= MAX_SEEN_ADDRESSES:
            # The bound is reached: the next batches go the exact way, and the set is freed.
            log.info("recipient list %s: %s addresses loaded directly; the rest of the upload goes through the "
                     "duplicate check", rl.pk, len(self.seen))
            self.direct = False
            self.seen = set()


def _create_new(receiver_list: ReceiverList, rows: dict[str, dict]) -> int:
    """Insert the rows whose address is not in the list yet (ORM; SQLite); returns how many."""
    existing: set[str] = set()
    emails = list(rows)
    for start in range(0, len(emails), _IN_LIST):
        existing.update(Receiver.objects.filter(receiver_list=receiver_list, email__in=emails[start: start + _IN_LIST])
                        .values_list("email", flat=True))
    new = [Receiver(receiver_list=receiver_list, email=e, template_data=rows[e]) for e in emails if e not in existing]
    # ignore_conflicts: a concurrent API call may have added one of them since the check.
    Receiver.objects.bulk_create(new, ignore_conflicts=True, batch_size=_IN_LIST)
    return len(new)


def _copy_text(value: str) -> str:
    """A value in COPY's text format."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _copy_line(email: str, data: dict | str, prefix: str, suffix: str) -> str:
    """A row as COPY text: `prefix` + email + tab + JSON + `suffix` (see _copy_lines)."""
    text = data if type(data) is str else _JSON.encode(data)
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    return f"{prefix}{_copy_text(email)}\t{text}{suffix}"


def _copy_lines(rows: dict[str, dict | str], prefix: str, suffix: str, block: int = 1000) -> Iterator[str]:
    """The rows as COPY text, `prefix` + email + tab + JSON + `suffix`, about `block` rows a string.

    A row's data is a dict or its JSON text as json.dumps writes it: ASCII without control
    characters, so a backslash is all it may hold that COPY escapes.
    """
    dumps = _JSON.encode
    lines = []
    for email, data in rows.items():
        text = data if type(data) is str else dumps(data)
        if "\\" in text:
            text = text.replace("\\", "\\\\")
        lines.append(f"{prefix}{_copy_text(email)}\t{text}{suffix}")
        if len(lines) >= block:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def _copy_new(receiver_list: ReceiverList, rows: dict[str, dict]) -> int:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT … SELECT that skips the
    addresses already in the list (ON CONFLICT DO NOTHING); returns how many were inserted.

    Row ids follow the file's order (dispatch walks the list by id). Runs inside the caller's
    transaction; the staging rows are deleted before it returns.
    """
    if not rows:
        return 0
    table = connection.ops.quote_name(Receiver._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} "
            "(position bigserial, email varchar(254) NOT NULL, template_data jsonb NOT NULL)"
        )
        with cursor.cursor.copy(f"COPY {_STAGING} (email, template_data) FROM STDIN") as copy:
            for text in _copy_lines(rows, "", "\n"):
                copy.write(text)
        cursor.execute(
            f"INSERT INTO {table} (receiver_list_id, email, template_data, created_at) "
            f"SELECT %s, email, template_data, %s FROM {_STAGING} ORDER BY position "
            "ON CONFLICT (receiver_list_id, email) DO NOTHING",
            [receiver_list.pk, timezone.now()],
        )
        inserted = cursor.rowcount
        cursor.execute(f"TRUNCATE {_STAGING}")
    return inserted


def _size_of(fileobj: BinaryIO) -> int | None:
    try:
        position = fileobj.tell()
        end = fileobj.seek(0, 2)
        fileobj.seek(position)
        return end - position
    except (AttributeError, OSError, ValueError):
        return None


def import_csv(
    receiver_list: ReceiverList, fileobj: BinaryIO, *, size: int | None = None, on_progress: Callable[[], object] | None = None,
) -> ImportResult:
    """Load a CSV (UTF-8, with or without BOM) into the list, streamed.

    1. The first row is a header when its first cell is not an address (email / 邮箱 …); its other
       cells name the template variables. Without a header, a row is one address and nothing else.
    2. Each row is checked: column count, address, variables (no HTML, at most 800 bytes as JSON,
       nothing the content review refuses, with the sensitive-word list read once at the start).
       A bad row becomes a ReceiverListError with its line number; the good rows load.
    3. Rows go in by BATCH_SIZE; duplicates — in the file or already in the list — are dropped and
       counted; after each batch the list's counts and bytes_done are updated for the console, and
       `on_progress` is called (the task touches its upload file: see requeue_stalled_imports).
    4. A line that is not UTF-8 stops the import there: what loaded stays, upload_error says where.
    Status is 2 while loading and 3 at the end, whatever happened.
    """
    if size is None:
        size = _size_of(fileobj) or 0
    # A task run again (redelivered, or handed out by requeue_stalled_imports) after a crash or a
    # failure resumes where the last committed batch ended: bytes_done and the counters are written
    # in one transaction (flush), and begin_upload sets bytes_done to 0 for a new upload.
    state = ReceiverList.objects.filter(pk=receiver_list.pk).values("status", "bytes_done").first() or {}
    resume_at = state.get("bytes_done", 0) if state.get("status") == ReceiverList.UPLOADING else 0
    if not 0 < resume_at <= size:
        resume_at = 0
        ReceiverList.objects.filter(pk=receiver_list.pk).update(
            status=ReceiverList.UPLOADING, bytes_total=size, bytes_done=0, upload_error="",
        )
    empty = not Receiver.objects.filter(receiver_list=receiver_list).exists()
    rules = current_send_rules()
    loader = _Loader(receiver_list, direct=empty)
    variables: list[str] | None = None
    plain_bound = 0  # _fits_template_data_limit's bound for a line of no characters (see below)
    keys: list[str] = []
    if resume_at:
        variables, lines_before = _resume_point(fileobj, resume_at)
        if variables:
            plain_bound = 2 + sum(6 * len(name) + 8 for name in variables)
            keys = [f"{_json_string(name)}: " for name in variables]
        lines = _Lines(fileobj, number=lines_before, bytes_read=resume_at)
    else:
        lines = _Lines(fileobj)
    as_text = connection.vendor == "postgresql"  # rows as JSON text (see _copy_lines), else dicts
    upload_error = ""
    try:
        for number, line in lines:
            if line is None:
                loader.refuse(number, f"the line is longer than {MAX_LINE_BYTES} bytes", "")
            elif line.strip():
                try:
                    cells = _cells(line)
                    if variables is None:
                        if _is_header(cells):
                            variables = _variables(cells)
                            plain_bound = 2 + sum(6 * len(name) + 8 for name in variables)
                            keys = [f"{_json_string(name)}: " for name in variables]
                            continue
                        variables = []
                    if len(cells) != len(variables) + 1:
                        expected = len(variables) + 1
                        raise _RowError(
                            f"{len(cells)} columns where the header has {expected}" if variables
                            else f"{len(cells)} columns, but the file has no header row naming the variables"
                        )
                    email = _clean_email(cells[0])
                    if variables:
                        values = [value.strip() for value in cells[1:]]
                        # A line without "<" or a control character, short enough that its values
                        # cannot reach the limit, passes _clean_data's checks: they are skipped.
                        if "<" in line or plain_bound + 6 * len(line) > MAX_TEMPLATE_DATA_BYTES or _CONTROL.search(line):
                            _clean_data(dict(zip(variables, values, strict=True)))
                        # When the screen finds nothing in the values, the review has nothing to refuse.
                        if rules.may_find("\t".join(values)):
                            _review_data(rules, dict(zip(variables, values, strict=True)))
                        # PostgreSQL takes the JSON text as json.dumps writes it, made here without a dict.
                        data = ("{" + ", ".join(map(_concat, keys, map(_json_string, values))) + "}" if as_text
                                else dict(zip(variables, values, strict=True)))
                    else:
                        data = "{}" if as_text else {}
                except _RowError as exc:
                    loader.refuse(number, exc.reason, line)
                else:
                    loader.add(email, data)
            if loader.full():
                loader.flush(bytes_done=lines.bytes_read)
                if on_progress is not None:
                    on_progress()
    except _NotUtf8 as exc:
        (line_number,) = exc.args
        upload_error = f"The file is not UTF-8 (line {line_number}): the lines before it are loaded. Save it as UTF-8 and upload the rest."
        loader.refuse(line_number, "not UTF-8", "")
    except ListError as exc:
        upload_error = exc.message
    except BaseException:
        loader.abort()  # a crash: the batch being loaded is rolled back, the committed ones stay
        raise
    # The end is marked with the last batch, so a run after a crash here does not resume past it.
    loader.flush(bytes_done=lines.bytes_read if upload_error else max(size, lines.bytes_read),
                 status=ReceiverList.DONE, upload_error=_CONTROL.sub("?", upload_error)[:500])
    # The stored count is the truth (an API call may have added rows meanwhile).
    ReceiverList.objects.filter(pk=receiver_list.pk).update(count=Receiver.objects.filter(receiver_list=receiver_list).count())
    receiver_list.refresh_from_db()
    return loader.result


# --- API additions -------------------------------------------------------------------------------


def add_receivers(receiver_list: ReceiverList, rows: Iterable[tuple[str, dict]]) -> ImportResult:
    """CreateReceiverDetail(WithData): rows are validated first; a bad address or bad data refuses
    the whole call, writing nothing. Empty and too long rows are skipped and counted, as the SDK's
    response reports them; duplicates are dropped and counted."""
    check_can_add(receiver_list)
    rows = list(rows)
    if len(rows) > MAX_API_RECIPIENTS:
        raise ListError(
            "LimitExceeded.ReceiverDetailRequestLimit",
            _("One call adds at most %(MAX_API_RECIPIENTS)s recipients; this one has %(count)s.") % {"MAX_API_RECIPIENTS": MAX_API_RECIPIENTS, "count": len(rows)},
        )
    result = ImportResult()
    rules = current_send_rules()
    wanted: dict[str, dict] = {}
    for index, (raw, data) in enumerate(rows):
        if not isinstance(raw, str) or not raw.strip():
            result.empty += 1
            continue
        if len(raw.strip()) > MAX_EMAIL_LENGTH:
            result.too_long += 1
            continue
        code = "InvalidParameterValue.ReceiverEmailInvalid"
        try:
            email = _clean_email(raw)
            if data and len(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")) > MAX_TEMPLATE_DATA_BYTES:
                result.too_long += 1
                continue
            # A reason quoting a value may say "address": the code follows the check, not the words.
            code = "InvalidParameterValue.InValidTemplateData"
            data = _clean_data(data or {})
            if data:
                _review_data(rules, data)
        except _RowError as exc:
            raise ListError(code, _("Recipient %(value)s: %(reason)s.") % {"value": index + 1, "reason": exc.reason.rstrip(".")}) from None
        if email in wanted:
            result.duplicates += 1
        else:
            wanted[email] = data
    loader = _Loader(receiver_list)
    loader.pending_duplicates = result.duplicates
    emails = list(wanted)
    with transaction.atomic():
        for start in range(0, max(len(emails), 1), BATCH_SIZE):
            loader.rows = {e: wanted[e] for e in emails[start: start + BATCH_SIZE]}
            loader.flush(status=ReceiverList.DONE)
    result.loaded = loader.result.loaded
    result.duplicates += loader.result.duplicates
    receiver_list.refresh_from_db()
    return result
