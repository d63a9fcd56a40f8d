"""Words for the reputation rules and their metric values, so every page describes them alike.

The rule tables live in settings (the operator may tune them), so descriptions are built from the
tables rather than written out by hand; the labels, signs and condition words are
domains.reputation.wording's, shared with the help page and today's progress.
"""

from __future__ import annotations

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy

from domains.reputation import levels
from domains.reputation.wording import LABELS, RATE_METRICS, condition_text

register = template.Library()

KIND_EFFECTS = {
    "upgrade": gettext_lazy("the domain went up one level at once"),
    "downgrade": gettext_lazy("if this still holds when the day closes, the domain goes down one level from tomorrow"),
    "freeze": gettext_lazy("the whole account is frozen for the rest of the day"),
}


def _and(parts: list[str]) -> str:
    return gettext(" and ").join(str(p) for p in parts)


def _find_rule(rule: str) -> tuple[str, list] | None:
    for kind, table in (
        ("upgrade", levels.upgrade_rules()),
        ("downgrade", levels.downgrade_rules()),
        ("freeze", levels.freeze_rules()),
    ):
        if rule in table:
            return kind, list(table[rule])
    return None


@register.filter
def rule_summary(rule: str) -> str:
    """'D1 — invalid > 9%': the rule's quality conditions (the volume floor is in the explanation)."""
    found = _find_rule(rule)
    if found is None:
        return rule
    _, conditions = found
    quality = [condition_text(*c) for c in conditions if c[0] not in ("sent", "sent_of_cap")]
    return f"{rule} — {_and(quality)}" if quality else rule


@register.filter
def rule_explanation(rule: str) -> str:
    """Every condition of the rule and what it does, e.g. 'sent > 300 and invalid > 9%: if this …'."""
    found = _find_rule(rule)
    if found is None:
        return ""
    kind, conditions = found
    return gettext("%(conditions)s: %(effect)s.") % {
        "conditions": _and([condition_text(*c) for c in conditions]), "effect": KIND_EFFECTS[kind],
    }


@register.filter
def rule_metrics(metrics: dict, rule: str) -> str:
    """The values behind a rule that fired, e.g. 'invalid 12.00% of 400 sent'."""
    metrics = metrics or {}
    found = _find_rule(rule)
    names = [c[0] for c in found[1]] if found else list(RATE_METRICS)
    rates = [f"{LABELS[m]} {metrics[m]}%" for m in RATE_METRICS if m in names and m in metrics]
    text = ", ".join(rates)
    if "sent" in metrics:
        if text:
            text = gettext("%(rates)s of %(sent)s sent") % {"rates": text, "sent": metrics["sent"]}
        else:
            text = gettext("%(sent)s sent") % {"sent": metrics["sent"]}
    return text


@register.filter
def all_metrics(metrics: dict) -> str:
    """Every recorded metric value: 'sent 400 · invalid 12.00% · delivery 80.00% · …'."""
    metrics = metrics or {}
    parts = [f"{LABELS['sent']} {metrics['sent']}"] if "sent" in metrics else []
    if "sent_of_cap" in metrics:
        parts.append(gettext("%(value)s%% of cap") % {"value": metrics["sent_of_cap"]})
    parts += [f"{LABELS[m]} {metrics[m]}%" for m in RATE_METRICS if m in metrics]
    return " · ".join(parts)


@register.filter
def thousands(value) -> str:
    """1000000 → '1,000,000' (caps and counters are easier to read grouped)."""
    try:
        return number_format(int(value), force_grouping=True)
    except (TypeError, ValueError):
        return value
