"""The reputation rules of SPEC §3: metrics in, decision out.

Pure Python: no Django, no clock, no I/O. Every comparison is exact (fractions, never floats):
20 invalid of 400 sent is exactly 5% and does not pass "invalid < 5%".

A rule is a list of conditions that must all hold; a condition is (metric, operator, value) with
the value a decimal string. The rule tables come from settings through domains.reputation.levels.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
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


# The mailbox type of messages that do not count for reputation: mail to the mailbox simulator while
# SES_SIMULATOR_COUNTS_FOR_REPUTATION is off (services.mailbox_type_of gives it when the message is
# admitted). Not a domain name (no dot), so no recipient address that send_email accepts has it.
SIMULATOR_MAILBOX = "simulator"


def counts_for_reputation(mailbox_type: str) -> bool:
    """Whether mail of this mailbox type counts for reputation: in a rate, the upgrade volume, the
    freeze and downgrade totals (SPEC §4.4). The one place that decides it: the reservation, the
    outcomes (services) and the account's rollup (domains.reputation.rollups) all ask it. Such mail still counts
    against the daily cap, as `sent` of the day row and also as its `simulated` (see metrics_of)."""
    return mailbox_type != SIMULATOR_MAILBOX


def percent(numerator: int, denominator: int) -> Fraction:
    """numerator / denominator as an exact percentage; 0 when the denominator is 0 (SPEC §3.1)."""
    if denominator <= 0:
        return Fraction(0)
    return Fraction(numerator * 100, denominator)


# Every metric a rule may name, and the counters it is made of: (numerator, denominator). No
# denominator: the counter itself; "cap": the day's cap. A rate is numerator × 100 / denominator in
# percent, 0 when the denominator is not positive (percent). The one definition of the metrics:
# metric_values, METRIC_COUNTERS and compile_table all read it.
METRIC_PARTS = {
    "sent": ("sent", None),
    "invalid_rate": ("invalid", "sent"),
    "delivery_rate": ("delivered", "sent"),
    "spam_rate": ("spam", "sent"),
    "complaint_rate": ("complaints", "delivered"),
    "open_rate": ("opened", "delivered"),
    "sent_of_cap": ("sent", "cap"),
}


def metric_values(metrics: DayMetrics, cap: int | None = None) -> dict[str, Fraction]:
    """Every metric a rule may name, as exact numbers (rates in percent); sent_of_cap with a cap only."""
    values = {}
    for metric, (numerator, denominator) in METRIC_PARTS.items():
        if denominator is None:
            values[metric] = Fraction(getattr(metrics, numerator))
        elif denominator == "cap":
            if cap is not None:
                values[metric] = percent(getattr(metrics, numerator), cap)
        else:
            values[metric] = percent(getattr(metrics, numerator), getattr(metrics, denominator))
    return values


# Which day counters each metric reads: a check need not run when none of its counters moved.
METRIC_COUNTERS = {
    metric: {numerator} | ({denominator} if denominator not in (None, "cap") else set())
    for metric, (numerator, denominator) in METRIC_PARTS.items()
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


COUNTER_ORDER = tuple(field.name for field in fields(DayMetrics))
_CAP = -1  # stands for the cap in a compiled condition's denominator


def compile_table(table: RuleTable, *, with_cap: bool = False) -> Callable[..., bool]:
    """A function of (counters in DayMetrics' field order[, cap]) telling whether any rule of `table`
    holds: exactly `first_rule_that_holds(table, metric_values(DayMetrics(*counters), cap)) is not
    None`, in integer arithmetic (a rate `num × 100 / den` against the threshold p/q is
    `num × 100 × q` against `p × den`, den and q being positive), without building the metrics.

    For the hot path of a reservation, which asks after every send whether a check could fire.
    Without `with_cap`, a table naming sent_of_cap is evaluated as metric_values would (it raises).
    """
    index = {name: i for i, name in enumerate(COUNTER_ORDER)}
    compiled: list[list[tuple]] | None = []
    for conditions in table.values():
        compiled_rule = []
        for metric, op, value in conditions:
            numerator, denominator = METRIC_PARTS[metric]
            if denominator == "cap" and not with_cap:
                compiled = None
                break
            threshold = _threshold(value)
            compiled_rule.append((
                index[numerator], None if denominator is None else _CAP if denominator == "cap" else index[denominator],
                OPERATORS[op], threshold.numerator, threshold.denominator,
            ))
        if compiled is None:
            break
        compiled.append(compiled_rule)

    if compiled is None:
        def holds(counters, cap=None):
            return first_rule_that_holds(table, metric_values(DayMetrics(*counters), cap if with_cap else None)) is not None
        return holds

    def holds(counters, cap=None):
        for compiled_rule in compiled:
            for numerator, denominator, op, p, q in compiled_rule:
                if denominator is None:
                    ok = op(counters[numerator] * q, p)
                else:
                    den = cap if denominator == _CAP else counters[denominator]
                    ok = op(counters[numerator] * 100 * q, p * den) if den > 0 else op(0, p)
                if not ok:
                    break
            else:
                return True
        return False

    return holds


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
