"""The reputation rules of SPEC §3: metrics in, decision out.

Pure Python: no Django, no clock, no I/O. Every comparison is exact (fractions, never floats):
20 invalid of 400 sent is exactly 5% and does not pass "invalid < 5%".

A rule is a list of conditions that must all hold; a condition is (metric, operator, value) with
the value a decimal string. The rule tables come from settings through domains.reputation.levels.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

Condition = tuple[str, str, str]
RuleTable = Mapping[str, Sequence[Condition]]

OPERATORS = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class DayMetrics:
    """Counters of one domain (or one account) for one platform day."""

    sent: int = 0
    delivered: int = 0
    invalid: int = 0
    spam: int = 0
    complaints: int = 0
    opened: int = 0

    def __add__(self, other: DayMetrics) -> DayMetrics:
        return DayMetrics(
            sent=self.sent + other.sent,
            delivered=self.delivered + other.delivered,
            invalid=self.invalid + other.invalid,
            spam=self.spam + other.spam,
            complaints=self.complaints + other.complaints,
            opened=self.opened + other.opened,
        )


def percent(numerator: int, denominator: int) -> Fraction:
    """numerator / denominator as an exact percentage; 0 when the denominator is 0 (SPEC §3.1)."""
    if denominator <= 0:
        return Fraction(0)
    return Fraction(numerator * 100, denominator)


def metric_values(metrics: DayMetrics, cap: int | None = None) -> dict[str, Fraction]:
    """Every metric a rule may name, as exact numbers (rates in percent)."""
    values = {
        "sent": Fraction(metrics.sent),
        "invalid_rate": percent(metrics.invalid, metrics.sent),
        "delivery_rate": percent(metrics.delivered, metrics.sent),
        "spam_rate": percent(metrics.spam, metrics.sent),
        "complaint_rate": percent(metrics.complaints, metrics.delivered),
        "open_rate": percent(metrics.opened, metrics.delivered),
    }
    if cap is not None:
        values["sent_of_cap"] = percent(metrics.sent, cap)
    return values


# Which day counters each metric reads: a check need not run when none of its counters moved.
METRIC_COUNTERS = {
    "sent": {"sent"},
    "sent_of_cap": {"sent"},
    "invalid_rate": {"invalid", "sent"},
    "delivery_rate": {"delivered", "sent"},
    "spam_rate": {"spam", "sent"},
    "complaint_rate": {"complaints", "delivered"},
    "open_rate": {"opened", "delivered"},
}


def counters_read_by(table: RuleTable) -> set[str]:
    """The counters whose change can change the outcome of any rule of `table`."""
    return {counter for conditions in table.values() for metric, _, _ in conditions for counter in METRIC_COUNTERS[metric]}


@functools.lru_cache(maxsize=1024)
def _threshold(value: str) -> Fraction:
    """A rule's decimal string as an exact number, converted once (closing a day reads it per domain)."""
    return Fraction(Decimal(value))


def _holds(condition: Condition, values: Mapping[str, Fraction]) -> bool:
    metric, op, threshold = condition
    return OPERATORS[op](values[metric], _threshold(threshold))


def first_rule_that_holds(table: RuleTable, values: Mapping[str, Fraction]) -> str | None:
    """The name of the first rule (in table order) whose conditions all hold, or None."""
    for name, conditions in table.items():
        if all(_holds(c, values) for c in conditions):
            return name
    return None


@dataclass(frozen=True)
class Decision:
    """A rule that fired, and the metric values (as rounded strings) that made it fire."""

    rule: str
    values: dict[str, str]


def _describe(values: Mapping[str, Fraction]) -> dict[str, str]:
    out = {}
    for name, value in values.items():
        if name == "sent":
            out[name] = str(int(value))
        else:
            out[name] = f"{float(value):.2f}"
    return out


def upgrade(
    metrics: DayMetrics, level: int, cap: int, top_level: int, table: RuleTable
) -> Decision | None:
    """SPEC §3.2: should the domain go up one level now? Never beyond the top level."""
    if level >= top_level:
        return None
    values = metric_values(metrics, cap)
    rule = first_rule_that_holds(table, values)
    return Decision(rule, _describe(values)) if rule else None


def downgrade(metrics: DayMetrics, level: int, table: RuleTable) -> Decision | None:
    """SPEC §3.3: on a closed day's final counters, should the domain go down one level? Never below 1."""
    if level <= 1:
        return None
    values = metric_values(metrics)
    rule = first_rule_that_holds(table, values)
    return Decision(rule, _describe(values)) if rule else None


def freeze(account_metrics: DayMetrics, table: RuleTable) -> Decision | None:
    """SPEC §3.4: on the account's day totals, should the account be frozen for the rest of the day?"""
    values = metric_values(account_metrics)
    rule = first_rule_that_holds(table, values)
    return Decision(rule, _describe(values)) if rule else None


def would_downgrade(metrics: DayMetrics, table: RuleTable) -> str | None:
    """The downgrade rule today's counters meet so far (shown as 'pending downgrade'), level aside."""
    return first_rule_that_holds(table, metric_values(metrics))
