"""The words for the reputation rules: one place for every page that names a metric or a condition.

    LABELS, NAMES, SHARE_OF, RATES     a metric's short label, full name, what a rate is a share of
    label, name, share_of, sign        the same as text
    condition_text                     one condition in words: "invalid > 9%"

Who uses which, and why thresholds are never written here: docs/engine.md.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

# Short labels, as a condition or a value names its metric: "invalid > 9%", "delivery 95.00%".
LABELS = {
    "sent": pgettext_lazy("metric", "sent"),
    "sent_of_cap": pgettext_lazy("metric", "sent"),
    "invalid_rate": pgettext_lazy("metric", "invalid"),
    "delivery_rate": pgettext_lazy("metric", "delivery"),
    "spam_rate": pgettext_lazy("metric", "spam bounce"),
    "complaint_rate": pgettext_lazy("metric", "complaint"),
    "open_rate": pgettext_lazy("metric", "open"),
}
# The metrics' full names, as headings name them: "Invalid address rate".
NAMES = {
    "sent": gettext_lazy("Messages sent"),
    "sent_of_cap": gettext_lazy("Share of the cap sent"),
    "invalid_rate": gettext_lazy("Invalid address rate"),
    "delivery_rate": gettext_lazy("Delivery rate"),
    "spam_rate": gettext_lazy("Spam bounce rate"),
    "complaint_rate": gettext_lazy("Complaint rate"),
    "open_rate": gettext_lazy("Open rate"),
}
RATE_METRICS = ("invalid_rate", "delivery_rate", "spam_rate", "complaint_rate", "open_rate")
# What each rate is a share of (SPEC §3.1), as "Complaint rate (% of delivered)" says it.
SHARE_OF = {
    "invalid_rate": pgettext_lazy("share of", "sent"),
    "delivery_rate": pgettext_lazy("share of", "sent"),
    "spam_rate": pgettext_lazy("share of", "sent"),
    "complaint_rate": pgettext_lazy("share of", "delivered"),
    "open_rate": pgettext_lazy("share of", "delivered"),
}
# The five rates in order, as the dashboard, a domain's page and the statistics list them: (metric, name, share of).
RATES = tuple((metric, NAMES[metric], SHARE_OF[metric]) for metric in RATE_METRICS)
SIGNS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def label(metric: str) -> str:
    return str(LABELS.get(metric, metric))


def name(metric: str) -> str:
    return str(NAMES.get(metric, metric))


def share_of(metric: str) -> str:
    return str(SHARE_OF.get(metric, metric))


def sign(op: str) -> str:
    return SIGNS.get(op, op)


def condition_text(metric: str, op: str, value: str) -> str:
    """One condition in words, with its threshold as the rule table has it: 'invalid > 9%'."""
    parts = {"sign": sign(op), "value": value}
    if metric == "sent":
        return gettext("sent %(sign)s %(value)s") % parts
    if metric == "sent_of_cap":
        return gettext("sent %(sign)s %(value)s%% of the daily cap") % parts
    return gettext("%(metric)s %(sign)s %(value)s%%") % {"metric": label(metric), **parts}
