"""Signed tokens for the open pixel, click redirects and unsubscribe links (SPEC §4.2).

A token is `<kind letter>.<django.core.signing value>`; the value holds the message's MessageId and,
for a click, the URL itself. Each kind signs with its own salt, so an open token cannot be replayed
as an unsubscribe, and nothing in a token is sequential. Because the click URL is inside the signed
value, the redirect can only lead to a URL that we put into the message: the signature proves it.

Paths (views in sending/urls_tracking.py): /t/o/<token> open pixel, /t/c/<token> click redirect,
/t/u/<token> unsubscribe (GET confirms, POST is RFC 8058 one-click).

Click and open links expire (`is_expired`, SES_CLICK_TOKEN_DAYS): a signed click link that never
expires would be a free, permanent redirect on our host to whatever a tenant once put in a template.
Unsubscribe links never expire: people unsubscribe from old mail, and RFC 8058 expects it to work.

- make_token / read_token: sign and verify a token of one kind.
- signed_at: when a verified token was signed (django.core.signing puts the time in every value).
- valid_until / is_expired: the end of a click or open link's life.
- open_url / click_url / unsubscribe_url, rewrite_html: the links inside outgoing mail.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

from django.conf import settings
from django.core import signing

OPEN = "open"
CLICK = "click"
UNSUBSCRIBE = "unsubscribe"
_LETTERS = {OPEN: "o", CLICK: "c", UNSUBSCRIBE: "u"}
_KINDS = {letter: kind for kind, letter in _LETTERS.items()}


class BadToken(Exception):
    """A token that was not made here, was altered, or is of another kind than expected."""


def _salt(kind: str) -> str:
    return f"sesconsole.tracking.{kind}"


def make_token(kind: str, message_id: str, extra: str = "") -> str:
    if kind not in _LETTERS:
        raise ValueError(f"unknown token kind {kind!r}")
    value = signing.dumps([message_id, extra] if extra else [message_id], salt=_salt(kind), compress=True)
    return f"{_LETTERS[kind]}.{value}"


def read_token(token: str, kind: str | None = None) -> tuple[str, str, str]:
    """(kind, message_id, extra) of a token made by make_token; BadToken for anything else.

    With `kind`, a valid token of another kind is refused too (an open token on the click path).
    """
    letter, dot, value = (token or "").partition(".")
    token_kind = _KINDS.get(letter)
    if not dot or token_kind is None or (kind is not None and token_kind != kind):
        raise BadToken("not a tracking token of this kind")
    try:
        payload = signing.loads(value, salt=_salt(token_kind))
    except signing.BadSignature:
        raise BadToken("the token's signature does not match") from None
    except ValueError:  # signed by us, but without a time (signing.Signer): never a tracking token
        raise BadToken("the token carries no time") from None
    if not isinstance(payload, list) or not payload or not all(isinstance(p, str) for p in payload):
        raise BadToken("the token holds no message")
    return token_kind, payload[0], payload[1] if len(payload) > 1 else ""


def signed_at(token: str) -> dt.datetime:
    """When a token was signed: the time django.core.signing.dumps put in front of the signature.

    Only for a token read_token accepted: the signature covers this time, so it cannot be moved.
    """
    value = token.partition(".")[2]
    try:
        stamp = signing.b62_decode(value.rsplit(":", 2)[-2])
    except (IndexError, ValueError):
        raise BadToken("the token carries no time") from None
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)


def valid_until(message, token: str) -> dt.datetime:
    """The end of a click or open link's life: SES_CLICK_TOKEN_DAYS after the message was made.

    The earlier of the message's creation and the token's signed time starts the clock, so neither a
    link signed again later (a retry builds the mail anew) nor a clock that moved lengthens it.
    """
    start = min(message.created_at, signed_at(token))
    return start + dt.timedelta(days=settings.SES_CLICK_TOKEN_DAYS)


def is_expired(message, token: str, now: dt.datetime) -> bool:
    return now >= valid_until(message, token)


def _url(letter: str, token: str) -> str:
    return f"{settings.SES_PUBLIC_URL.rstrip('/')}/t/{letter}/{token}"


def open_url(message) -> str:
    return _url("o", make_token(OPEN, message.message_id))


def click_url(message, url: str) -> str:
    return _url("c", make_token(CLICK, message.message_id, url))


def unsubscribe_url(message) -> str:
    return _url("u", make_token(UNSUBSCRIBE, message.message_id))


def is_tracking_url(url: str) -> bool:
    return url.startswith(f"{settings.SES_PUBLIC_URL.rstrip('/')}/t/")


# <a ... href="…"> with the value quoted either way or unquoted.
_A_HREF = re.compile(
    r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""",
    re.IGNORECASE | re.DOTALL,
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def rewrite_html(message, html: str, *, track_opens: bool = True, track_clicks: bool = True) -> str:
    """The HTML with every http(s) link going through a click URL, and an open pixel at the end.

    mailto:, anchors and other schemes are left alone, and so is an unsubscribe link (ours or any
    link already pointing at this installation): a mail scanner that follows every link must not
    be able to unsubscribe anybody, and the unsubscribe page counts itself.
    """
    if track_clicks:
        def replace(match: re.Match) -> str:
            raw = next(g for g in match.groups()[1:] if g is not None)
            url = html_lib.unescape(raw).strip()
            if not re.match(r"https?://", url, re.IGNORECASE) or is_tracking_url(url):
                return match.group(0)
            return f'{match.group(1)}"{html_lib.escape(click_url(message, url))}"'

        html = _A_HREF.sub(replace, html)
    if track_opens:
        pixel = (
            f'<img src="{html_lib.escape(open_url(message))}" width="1" height="1" alt="" '
            'style="border:0;width:1px;height:1px">'
        )
        matches = list(_BODY_END.finditer(html))
        if matches:
            at = matches[-1].start()
            html = f"{html[:at]}{pixel}{html[at:]}"
        else:
            html = f"{html}{pixel}"
    return html
