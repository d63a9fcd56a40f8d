"""Review reasons in the reader's language.

sending.review stores its findings in English (Template.review_reason, one finding a line:
'[rule] (part) message: "quote"'); these functions translate the known messages when they are shown
(console pages, API answers in X-TC-Language). Quotes, rule codes and staff notes stay as written.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext

from sending.review import MESSAGES, PART_NAMES, SENSITIVE_WORD_MESSAGE, TEMPLATE_VARIABLE_SUFFIX

# ReviewResult.reason, one finding a line: '[rule] (part) message: "quote"'.
FINDING_LINE = re.compile(r'^\[(?P<rule>[^\]]+)\](?: \((?P<part>[^)]+)\))? (?P<message>.*?)(?:: "(?P<quote>.*)")?$')
_SENSITIVE_WORD_STORED = re.compile(r'^Contains "(?P<word>.*)" from the sensitive-word list\.$')


def translate_message(message: str) -> str:
    """A stored (English) finding message in the active language; anything else as it is."""
    suffix = ""
    if message.endswith(TEMPLATE_VARIABLE_SUFFIX):
        message, suffix = message[: -len(TEMPLATE_VARIABLE_SUFFIX)], gettext(TEMPLATE_VARIABLE_SUFFIX)
    if message in MESSAGES.values():
        return gettext(message) + suffix
    match = _SENSITIVE_WORD_STORED.match(message)
    if match:
        return gettext(SENSITIVE_WORD_MESSAGE) % {"word": match["word"]} + suffix
    return message + (TEMPLATE_VARIABLE_SUFFIX if suffix else "")


def translate_part(part: str) -> str:
    return gettext(PART_NAMES[part]) if part in PART_NAMES else part


def translate_finding(line: str) -> dict:
    """One stored reason line as {rule, part, message, quote}, the words in the active language."""
    match = FINDING_LINE.match(line)
    if not match:
        return {"rule": "", "part": "", "message": line, "quote": None}
    finding = match.groupdict()
    finding["message"] = translate_message(finding["message"])
    finding["part"] = translate_part(finding["part"]) if finding["part"] else finding["part"]
    return finding


def translate_reason(text: str) -> str:
    """A stored review reason (several lines) in the active language, in the same line format."""
    lines = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        finding = translate_finding(line)
        if not finding["rule"]:
            lines.append(line)
            continue
        where = f" ({finding['part']})" if finding["part"] else ""
        quote = f': "{finding["quote"]}"' if finding["quote"] is not None else ""
        lines.append(f"[{finding['rule']}]{where} {finding['message']}{quote}")
    return "\n".join(lines)
