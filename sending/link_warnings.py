"""Links in a template that look like phishing, for staff reviewing it (issue 12, requirement 6).

A warning, never a verdict: the content review (review.py) decides; this tells staff where to look.
Every http(s) link becomes a click redirect on our host, so a tenant's phishing link would travel
under our name.

- suspicious_links(html): (link, why) for each link of a suspicious shape.
"""

from __future__ import annotations

import html as html_lib
import ipaddress
import re
import urllib.parse

# <a href="…">text</a>, quoted either way or unquoted.
_LINK = re.compile(
    r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))[^>]*>(.*?)</a\s*>""",
    re.IGNORECASE | re.DOTALL,
)
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
    found = []
    for match in _LINK.finditer(html or ""):
        url = html_lib.unescape(next(g for g in match.groups()[:3] if g is not None)).strip()
        if "{{" in url:
            continue  # filled in per recipient (the unsubscribe URL, a tenant's own variables)
        text = html_lib.unescape(_TAG.sub("", match.group(4))).strip()
        why = _why(url, text)
        if why:
            found.append((url, why))
    return found
