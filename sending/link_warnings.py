"""Links in a template that look like phishing, for staff reviewing it (issue 12, requirement 6).

A warning, never a verdict: the content review (review.py) decides; this tells staff where to look.
Every http(s) link becomes a click redirect on our host, so a tenant's phishing link would travel
under our name.

- suspicious_links(html): (link, why) for each link of a suspicious shape.
"""

from __future__ import annotations

import bisect
import html as html_lib
import ipaddress
import re
import urllib.parse

# <a …> tags (at most MAX_TAG characters long), their href quoted either way or unquoted, and the
# closing </a> tags. Found separately and paired by position, so a template of unclosed <a> tags
# costs linear time, not a scan to its end from every tag (staff open the template list).
MAX_TAG = 2000
MAX_TEXT = 500  # of a link's text: enough to show a web address
_OPENING = re.compile(rf"<a\b[^>]{{0,{MAX_TAG}}}>", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_CLOSING = re.compile(r"</a\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
# Link text that itself names a web address ("www.bank.example", "https://bank.example/login").
_SHOWN_HOST = re.compile(r"^(?:https?://)?((?:[\w-]+\.)+[a-z]{2,})(?:[/:?#]\S*)?$", re.IGNORECASE)


def _host_of(url: str) -> str:
    try:
        return (urllib.parse.urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def _same_site(shown: str, host: str) -> bool:
    shown = shown.lower().removeprefix("www.")
    return host == shown or host.endswith("." + shown) or shown.endswith("." + host.removeprefix("www."))


def _why(url: str, text: str) -> str:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("javascript", "data", "vbscript"):
        return f"a {scheme}: link"
    if scheme not in ("http", "https"):
        return ""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "a link that is not a valid URL"
    host = _host_of(url)
    if "@" in parts.netloc:
        return "the address hides its real host behind a user name (user@host)"
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return "the address is a bare IP address"
    if any(label.startswith("xn--") for label in host.split(".")):
        return "the host name is punycode, which can imitate another name"
    shown = _SHOWN_HOST.match(text)
    if shown and host and not _same_site(shown.group(1), host):
        return f"the text shows {shown.group(1)} but the link goes to {host}"
    return ""


def suspicious_links(html: str) -> list[tuple[str, str]]:
    """(link, why) for every link of the HTML whose shape phishing uses; [] when none does."""
    html = html or ""
    closings = [match.start() for match in _CLOSING.finditer(html)]
    openings = list(_OPENING.finditer(html))
    found = []
    for index, opening in enumerate(openings):
        href = _HREF.search(opening.group(0))
        if href is None:
            continue
        url = html_lib.unescape(next(g for g in href.groups() if g is not None)).strip()
        if "{{" in url:
            continue  # filled in per recipient (the unsubscribe URL, a tenant's own variables)
        # A link's text ends at its </a>, or where the next link begins (links do not nest: a
        # browser closes one when the next opens), or at the end of the text.
        end = opening.end() + MAX_TEXT
        following = bisect.bisect_left(closings, opening.end())
        if following < len(closings):
            end = min(end, closings[following])
        if index + 1 < len(openings):
            end = min(end, openings[index + 1].start())
        shown = html[opening.end():end]
        text = html_lib.unescape(_TAG.sub("", shown)).strip()
        why = _why(url, text)
        if why:
            found.append((url, why))
    return found
