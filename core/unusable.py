"""The characters no text of ours may carry ("unusable"): the one definition, and finding them.

Unusable are:

- NUL (U+0000): PostgreSQL text and jsonb cannot store it (SQLite can, so without this check the
  two databases would answer the same request differently);
- the other C0 controls except TAB, LF and CR, DEL (U+007F) and the C1 controls (U+0080–U+009F):
  nobody types them, they mean nothing in a mail or a page (HTML calls them parse errors), and a
  terminal or a log reader takes them as commands;
- lone surrogates (U+D800–U+DFFF): a JSON "\\ud800" escape parses into a Python str that has no
  UTF-8 form, so psycopg cannot send it, a log cannot write it and a reply cannot echo it;
- the noncharacters (U+FDD0–U+FDEF and the last two code points of every plane, U+FFFE, U+FFFF,
  U+1FFFE … U+10FFFF): reserved by Unicode for a program's own use, not for text people write or
  send (U+FFFE is a byte-swapped BOM); HTML calls them parse errors too.

TAB, LF and CR stay: templates, text bodies and list descriptions hold them. A value that must be
one line (a subject, a sender name, anything that becomes a mail header) refuses CR and LF itself,
against header injection (sending.services).

The API refuses them where the JSON body is parsed (api.views), the console where query strings,
form fields and path segments arrive (sesconsole.middleware), and the services where a string is
parsed again (TemplateData's JSON: sending.review.template_data_errors; template content from
base64: sending.services; CSV rows: batches.lists.importer). The MTA webhook refuses them in its JSON
(sending.inbound.services); DSN/ARF reports are read leniently instead, NULs dropped (sending.inbound.reports).

    UNUSABLE                    the character class, compiled
    first(text)                 the index of the first unusable character, or -1
    find(value)                 the first one in a JSON value (strings, list items, object keys and
                                values), with the path to it, or None
    code_point(char)            "U+0000": how a message names the character
    shown(text)                 the text with each unusable character written as \\uXXXX, to echo it
    clipped(text)               a long name cut to its start and end, for a message
    exempt(view)                marks a machine endpoint that refuses them in its own format

No Django here: sending.review, which must stay free of it, uses this module too (and so it is not
in the sesconsole package, whose import starts Celery). The console's check is
sesconsole.middleware.UnusableInputMiddleware.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    chr(plane + 0xFFFE) + chr(plane + 0xFFFF) for plane in range(0, 0x110000, 0x10000)
)
UNUSABLE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")


def first(text: str) -> int:
    match = UNUSABLE.search(text)
    return -1 if match is None else match.start()


@dataclass(frozen=True)
class Found:
    """Where an unusable character is: `path` names the value (object keys and list indexes from the
    top); `in_key` says the last element of the path is itself the key that holds it."""

    path: tuple[str | int, ...]
    index: int
    char: str
    in_key: bool = False

    def name(self) -> str:
        """The path as the API's messages write it ("Datas.0.Email"), each part safe to echo, and
        clipped: a key can be as long as the body."""
        return clipped(".".join(shown(part) if isinstance(part, str) else str(part) for part in self.path))


def find(value: object, path: tuple[str | int, ...] = ()) -> Found | None:
    """The first unusable character in a value parsed from JSON, in document order. Without
    recursion: json parses arrays nested deeper than Python's recursion limit allows frames."""
    stack: list[tuple[tuple[str | int, ...], object, bool]] = [(path, value, False)]
    while stack:
        path, value, is_key = stack.pop()
        if isinstance(value, str):
            index = first(value)
            if index >= 0:
                return Found(path, index, value[index], in_key=is_key)
        elif isinstance(value, dict):
            entries = []
            for key, item in value.items():
                entries += [((*path, key), key, True), ((*path, key), item, False)]
            stack.extend(reversed(entries))
        elif isinstance(value, list):
            stack.extend(((*path, position), item, False) for position, item in reversed(list(enumerate(value))))
    return None


def code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def _escape(match: re.Match) -> str:
    number = ord(match.group())
    return f"\\u{number:04x}" if number <= 0xFFFF else f"\\U{number:08x}"


def shown(text: str) -> str:
    return UNUSABLE.sub(_escape, text)


def clipped(text: str, limit: int = 120) -> str:
    """A name as a message shows it: whole when short, else its start and its end."""
    return text if len(text) <= limit else text[: limit // 2] + "…" + text[-(limit // 2):]


def exempt(view):
    """Mark a machine endpoint (the signed API, the MTA endpoints, the links in our mail) that
    reads its own input and answers in its own format: the console's 400 page is not for them."""
    view.unusable_input_exempt = True
    return view
