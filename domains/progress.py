"""Today's progress of a domain toward its next upgrade (SPEC §3.2), condition by condition.

Reads the rule tables from settings (never a threshold of its own) and compares with the same exact
fractions as the rules themselves, so "delivery 92% ✗ needs > 92%" is what the upgrade check also
decides. `describe` is pure; `today_progress` loads today's row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from django.utils.formats import number_format
from django.utils.translation import gettext

from core.clock import platform_today
from domains.models import DomainDay, SenderDomain
from domains.reputation import levels, rules, wording
from domains.reputation.services import metrics_of

MET, NOT_MET = "✓", "✗"


def _grouped(value: int) -> str:
    return number_format(value, force_grouping=True)


def format_percent(value: Fraction, threshold: Fraction | None = None) -> str:
    """'96%', '4.35%'; more decimals only where rounding would make a value look like its threshold."""
    if value.denominator == 1:
        return f"{value.numerator}%"
    for places in range(2, 7):
        text = f"{Decimal(value.numerator) / Decimal(value.denominator):.{places}f}".rstrip("0").rstrip(".")
        if threshold is None or Fraction(Decimal(text)) != threshold:
            return f"{text}%"
    return f"{text}%"


def sends_needed(cap: int, op: str, threshold: Fraction) -> int | None:
    """The fewest sends that pass 'sent_of_cap op threshold' for this cap (None for an upper bound)."""
    boundary = Fraction(cap) * threshold / 100
    if op == ">=":
        return math.ceil(boundary)
    if op == ">":
        return math.floor(boundary) + 1
    return None


@dataclass(frozen=True)
class ConditionProgress:
    metric: str
    op: str
    threshold: Fraction
    value: Fraction
    met: bool
    text: str
    needed: int | None = None  # sent_of_cap only: sends the condition needs
    more: int | None = None  # sent_of_cap only: sends still missing today


@dataclass(frozen=True)
class RuleProgress:
    rule: str
    conditions: list[ConditionProgress]

    @property
    def met(self) -> bool:
        return all(c.met for c in self.conditions)

    @property
    def text(self) -> str:
        return "; ".join(c.text for c in self.conditions)


@dataclass(frozen=True)
class Progress:
    level: int
    top_level: int
    cap: int
    sent: int
    upgrades: list[RuleProgress]  # empty at the top level
    downgrades_met: list[str]  # downgrade rules today's counters meet so far

    @property
    def at_top(self) -> bool:
        return self.level >= self.top_level

    @property
    def pending_downgrade(self) -> str | None:
        # Level 1 is the floor: a met rule moves nothing (as domains.reputation.services.pending_downgrade).
        return self.downgrades_met[0] if self.downgrades_met and self.level > 1 else None


def _condition(metric: str, op: str, threshold_text: str, values: dict[str, Fraction], cap: int) -> ConditionProgress:
    threshold = Fraction(Decimal(threshold_text))
    value = values[metric]
    # One-rule table: the comparison is the rules module's own, not a copy of it.
    met = rules.first_rule_that_holds({"c": [(metric, op, threshold_text)]}, values) is not None
    mark = MET if met else NOT_MET
    sign = wording.sign(op)
    label = wording.label(metric)
    if metric == "sent_of_cap":
        sent = int(values["sent"])
        needed = sends_needed(cap, op, threshold)
        if needed is None:
            limit = format_percent(threshold)
            text = gettext("sent %(sent)s %(mark)s needs %(sign)s %(limit)s of the cap") % {
                "sent": sent, "mark": mark, "sign": sign, "limit": limit,
            }
            return ConditionProgress(metric, op, threshold, value, met, text)
        more = max(needed - sent, 0)
        text = gettext("sent %(sent)s of the %(needed)s needed %(mark)s") % {
            "sent": _grouped(sent), "needed": _grouped(needed), "mark": mark,
        }
        if more:
            text += gettext(" (%(more)s more)") % {"more": _grouped(more)}
        return ConditionProgress(metric, op, threshold, value, met, text, needed, more)
    if metric == "sent":
        shown, limit = f"{int(value):,}", f"{threshold:,}" if threshold.denominator == 1 else threshold_text
    else:
        shown, limit = format_percent(value, threshold), format_percent(threshold)
    parts = {"label": label, "shown": shown, "sign": sign, "limit": limit, "mark": mark}
    if met:
        text = gettext("%(label)s %(shown)s %(sign)s %(limit)s %(mark)s") % parts
    else:
        text = gettext("%(label)s %(shown)s %(mark)s needs %(sign)s %(limit)s") % parts
    return ConditionProgress(metric, op, threshold, value, met, text)


def describe(metrics: rules.DayMetrics, level: int, cap: int) -> Progress:
    """Each upgrade rule's conditions against today's counters, and the downgrade rules they meet."""
    top = levels.top_level()
    values = rules.metric_values(metrics, cap)
    upgrades = []
    if level < top:
        upgrades = [
            RuleProgress(name, [_condition(m, op, t, values, cap) for m, op, t in conditions])
            for name, conditions in levels.upgrade_rules().items()
        ]
    downgrades_met = [
        name
        for name, conditions in levels.downgrade_rules().items()
        if rules.first_rule_that_holds({name: conditions}, values)
    ]
    return Progress(level, top, cap, metrics.sent, upgrades, downgrades_met)


def progress_of(domain: SenderDomain, today: DomainDay | None) -> Progress:
    """`describe` for the domain's row of the current platform day (zeros before its first send)."""
    metrics = metrics_of(today) if today else rules.DayMetrics()
    cap = today.cap if today else domain.daily_cap
    return describe(metrics, domain.level, cap)


def today_progress(domain: SenderDomain) -> Progress:
    return progress_of(domain, DomainDay.objects.filter(domain=domain, day=platform_today()).first())
