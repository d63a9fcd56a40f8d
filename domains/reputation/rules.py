"""The reputation rules of SPEC §3: metrics in, decision out. Pure: no Django, no clock, no I/O.

    upgrade, downgrade, freeze   SPEC §3.2–3.4 on a day's DayMetrics: a Decision (the rule, its values) or None
    would_downgrade              the downgrade rule today's counters meet so far, level aside
    upgrade_fires, downgrade_fires, freeze_fires
                                 their fast forms: the same tables in integer arithmetic, for the hot paths
    upgrade_out_of_reach         the shortcut "no upgrade can move until more mail is sent"
    compile_table                a table as a function of the counters (what the fast forms are built on)
    metric_values, percent       the metrics a rule may name (METRIC_PARTS), as exact fractions
    counters_read_by             the counters a table reads: a check need not run when none moved
    counts_for_reputation        whether mail of a mailbox type counts (all but SIMULATOR_MAILBOX)

Every comparison is exact (fractions, never floats); why, and how the fast forms are proven to
answer as the rules do: docs/engine.md.
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


def _compile_condition(metric: str, op: str, value: str) -> tuple:
    """One condition in integer form: (numerator's index, denominator's index or None or _CAP,
    operator, p, q) with p/q the threshold."""
    numerator, denominator = METRIC_PARTS[metric]
    threshold = _threshold(value)
    return (
        COUNTER_ORDER.index(numerator),
        None if denominator is None else _CAP if denominator == "cap" else COUNTER_ORDER.index(denominator),
        OPERATORS[op], threshold.numerator, threshold.denominator,
    )


def _condition_holds(compiled: tuple, counters: Sequence[int], cap: int | None) -> bool:
    """A compiled condition on the counters: a rate `num × 100 / den` against the threshold p/q is
    `num × 100 × q` against `p × den` (den and q positive); a rate with no positive denominator is 0."""
    numerator, denominator, op, p, q = compiled
    if denominator is None:
        return op(counters[numerator] * q, p)
    den = cap if denominator == _CAP else counters[denominator]
    return op(counters[numerator] * 100 * q, p * den) if den > 0 else op(0, p)


def compile_table(table: RuleTable, *, with_cap: bool = False) -> Callable[..., bool]:
    """A function of (counters in DayMetrics' field order[, cap]) telling whether any rule of `table`
    holds: exactly `first_rule_that_holds(table, metric_values(DayMetrics(*counters), cap)) is not
    None`, in integer arithmetic (_condition_holds), without building the metrics.

    Without `with_cap`, a table naming sent_of_cap is evaluated as metric_values would (it raises).
    The fast forms below (upgrade_fires, downgrade_fires, freeze_fires) are built on it.
    """
    names_cap = any(METRIC_PARTS[metric][1] == "cap" for conditions in table.values() for metric, _, _ in conditions)
    if names_cap and not with_cap:
        def holds_slowly(counters, cap=None):
            return first_rule_that_holds(table, metric_values(DayMetrics(*counters))) is not None
        return holds_slowly

    compiled = [[_compile_condition(*condition) for condition in conditions] for conditions in table.values()]

    def holds(counters, cap=None):
        for compiled_rule in compiled:
            for numerator, denominator, op, p, q in compiled_rule:  # _condition_holds, inlined
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


# The fast forms: the same rule tables, compiled once each to integer arithmetic, for the hot paths
# (a reservation asks after every send whether a check could fire; a group of deliveries whether it
# may be summed). Each gives exactly the answer of its rule function on the same arguments
# (domains/tests/test_rules_fast_forms.py proves it on random counts and every boundary).
# `counters` are a day's counters in COUNTER_ORDER (DayMetrics' fields).
_fast_forms: dict[tuple[str, int], tuple[RuleTable, Callable]] = {}


def _fast(kind: str, table: RuleTable, build: Callable[[RuleTable], Callable]) -> Callable:
    """`build(table)`, once per rule table (a table swapped in settings is a new object: a new form)."""
    key = (kind, id(table))
    cached = _fast_forms.get(key)
    if cached is not None and cached[0] is table:
        return cached[1]
    if len(_fast_forms) >= 256:
        _fast_forms.clear()
    form = build(table)
    _fast_forms[key] = (table, form)
    return form


def _build_upgrade(table: RuleTable) -> Callable[[Sequence[int], int, int, int], bool]:
    holds = compile_table(table, with_cap=True)

    def fires(counters: Sequence[int], level: int, cap: int, top_level: int) -> bool:
        return level < top_level and holds(counters, cap)
    return fires


def upgrade_fires(table: RuleTable) -> Callable[[Sequence[int], int, int, int], bool]:
    """The fast form of upgrade: f(counters, level, cap, top_level) is
    `upgrade(DayMetrics(*counters), level, cap, top_level, table) is not None`."""
    return _fast("upgrade", table, _build_upgrade)


def _build_downgrade(table: RuleTable) -> Callable[[Sequence[int], int], bool]:
    holds = compile_table(table)

    def fires(counters: Sequence[int], level: int) -> bool:
        return level > 1 and holds(counters)
    return fires


def downgrade_fires(table: RuleTable) -> Callable[[Sequence[int], int], bool]:
    """The fast form of downgrade: f(counters, level) is `downgrade(DayMetrics(*counters), level, table) is not None`."""
    return _fast("downgrade", table, _build_downgrade)


def freeze_fires(table: RuleTable) -> Callable[[Sequence[int]], bool]:
    """The fast form of freeze: f(counters) is `freeze(DayMetrics(*counters), table) is not None`."""
    return _fast("freeze", table, compile_table)


# The counters an outcome never moves (only a reservation adds to `sent`), and the cap: a condition
# reading nothing else keeps its answer whatever outcomes arrive.
_FIXED_BY_OUTCOMES = {"sent", "cap"}


def _build_out_of_reach(table: RuleTable) -> Callable[[int, int, int, int], bool]:
    index_of_sent = COUNTER_ORDER.index("sent")
    # Per rule, its conditions that read only `sent` and the cap (e.g. sent ≥ 70% of the cap); a rule
    # without one can always be reached by outcomes, and then so can the table.
    fixed = []
    for conditions in table.values():
        compiled = [
            _compile_condition(metric, op, value) for metric, op, value in conditions
            if {part for part in METRIC_PARTS[metric] if part is not None} <= _FIXED_BY_OUTCOMES
        ]
        if not compiled:
            return lambda sent, level, cap, top_level: level >= top_level
        fixed.append(compiled)
    zeros = [0] * len(COUNTER_ORDER)

    def out_of_reach(sent: int, level: int, cap: int, top_level: int) -> bool:
        if level >= top_level:
            return True
        counters = zeros.copy()  # only sent is read
        counters[index_of_sent] = sent
        return all(not all(_condition_holds(c, counters, cap) for c in conditions) for conditions in fixed)
    return out_of_reach


def upgrade_out_of_reach(table: RuleTable) -> Callable[[int, int, int, int], bool]:
    """The shortcut "no upgrade can move": f(sent, level, cap, top_level) is True only when
    `upgrade(metrics, level, cap, top_level, table)` is None for every metrics whose `sent` is `sent`,
    i.e. whatever outcomes arrive until more mail is sent (at the top level; or every upgrade rule
    has a condition on `sent` and the cap alone that fails, as "sent ≥ 70% of the cap" below it).
    False means an outcome may let an upgrade fire, not that one will."""
    return _fast("out_of_reach", table, _build_out_of_reach)


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
