"""The words of member notifications, in any of the console's languages.

A notification is stored once, in English (Notification.subject/text, what admin and logs show), with
the facts it was made from (Notification.params). The console page and each member's email render
those facts again in the reader's language: the console in the page's language, the email in the
language the member last used the console in (Membership.language).
"""

from __future__ import annotations

import re

from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext, pgettext

_PAUSE_REASON_CAP = re.compile(r"^(?P<domain>\S+) reached its daily cap of (?P<cap>[\d,]+)$")


def _n(value) -> str:
    return number_format(value, force_grouping=True)


def translate_pause_reason(reason: str) -> str:
    """A batch task's stored pause reason (English, written by the dispatcher) in the active language."""
    match = _PAUSE_REASON_CAP.match(reason or "")
    if not match:
        return reason
    cap = int(match["cap"].replace(",", ""))
    return gettext("%(domain)s reached its daily cap of %(cap)s") % {"domain": match["domain"], "cap": _n(cap)}


def _level_changed(p: dict) -> tuple[str, str]:
    subject = gettext("%(domain)s is now level %(level)s") % {"domain": p["domain"], "level": p["to_level"]}
    if p["to_level"] > p["from_level"]:
        text = gettext(
            "%(domain)s went up from level %(from_level)s to level %(to_level)s (rule %(rule)s, effective "
            "%(when)s). Its daily cap is now %(cap)s."
        )
    else:
        text = gettext(
            "%(domain)s went down from level %(from_level)s to level %(to_level)s (rule %(rule)s, effective "
            "%(when)s). Its daily cap is now %(cap)s."
        )
    return subject, text % {**p, "cap": _n(p["cap"])}


def _account_frozen(p: dict) -> tuple[str, str]:
    subject = gettext("Your account is frozen for today")
    text = gettext(
        "Your account is frozen until the end of %(day)s (rule %(rule)s): sends are refused and batch tasks "
        "fail their unsent messages. The freeze ends by itself at midnight; staff can lift it earlier."
    ) % p
    return subject, text


def _cap_warning(p: dict) -> tuple[str, str]:
    subject = gettext("%(domain)s has used %(share)s%% of today's cap") % p
    text = gettext(
        "%(domain)s has sent %(sent)s of its %(cap)s messages today (%(share)s%%). Sends past the cap are "
        "refused until tomorrow; the domain moves up a level when its quality is good at %(upgrade_share)s%% "
        "of the cap, or staff can raise the cap by a work order."
    ) % {**p, "sent": _n(p["sent"]), "cap": _n(p["cap"])}
    return subject, text


def _batch_paused(p: dict) -> tuple[str, str]:
    subject = gettext("Batch task %(task)s paused for today") % p
    text = gettext(
        "Batch task %(task)s paused: %(reason)s. %(sent)s messages are sent, %(waiting)s wait. "
        "It resumes by itself at %(when)s."
    ) % {**p, "reason": translate_pause_reason(p["reason"]), "sent": _n(p["sent"]), "waiting": _n(p["waiting"])}
    return subject, text


def _domain_claim_lost(p: dict) -> tuple[str, str]:
    subject = gettext("%(domain)s is verified by another account") % p
    text = gettext(
        "Another account proved control of %(domain)s in DNS first, so it owns the domain now and your "
        "unverified claim on it is removed. If the domain is yours, check who can change its DNS records."
    ) % p
    return subject, text


def _domain_claim_expired(p: dict) -> tuple[str, str]:
    subject = gettext("%(domain)s was removed: not verified in time") % p
    text = gettext(
        "%(domain)s was not verified within %(days)s days of being added, so it is removed. To send from "
        "it, add it again and publish the new DNS records it shows."
    ) % p
    return subject, text


RENDERERS = {
    "level_changed": _level_changed,
    "account_frozen": _account_frozen,
    "cap_warning": _cap_warning,
    "batch_paused": _batch_paused,
    "domain_claim_lost": _domain_claim_lost,
    "domain_claim_expired": _domain_claim_expired,
}


def render(cause: str, params: dict, language: str | None = None) -> tuple[str, str] | None:
    """(subject, text) of a notification in `language` (default: the active one); None without params."""
    renderer = RENDERERS.get(cause)
    if renderer is None or not params:
        return None
    if language is None:
        return renderer(params)
    with translation.override(language):
        return renderer(params)


def email_body(text: str, account_name: str) -> str:
    signature = pgettext("notification email signature", "— sesconsole, for %(account)s") % {"account": account_name}
    return f"{text}\n\n{signature}\n"
