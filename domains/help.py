"""The help page on the reputation rules (/help/rules/): what each rule checks and how to fix it.

Generated from the rule tables (settings.SES_REPUTATION through domains.reputation.levels), so a
threshold is never restated here: an operator who tunes D1 to "invalid > 7%" sees 7% on the page.
What is written by hand is the meaning of each metric (SPEC §3.1) and the advice on improving it,
one entry per metric; a rule's entry is built from its conditions.

Anchors: `rule-<name>` for each rule (rule-U1, rule-D1, rule-F1 …), `rate-<metric>` for each
metric, and `rates`, `upgrade`, `downgrade`, `freeze`, `cap` for the sections. `rule_anchor` and
`metric_anchor` are what pages link to.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from django.urls import reverse
from django.utils.translation import gettext_lazy

from domains.reputation import levels, wording
from domains.reputation.wording import RATE_METRICS, condition_text

# The five rates of SPEC §3.1 and the two volume metrics: what is counted, of what, how to fix
# (their names and the words of a condition are domains.reputation.wording's).
METRICS = {
    "invalid_rate": {
        "counts": gettext_lazy(
            "Hard bounces because the recipient does not exist or its address is malformed "
            "(SMTP 5.1.x, a domain without mail servers, bad syntax)."
        ),
        "of": gettext_lazy("sent"),
        "fix": gettext_lazy(
            "Clean your list: remove addresses that no longer exist and typing mistakes, and collect new "
            "addresses with a confirmation mail (double opt-in). Addresses that bounced as invalid are "
            "already on your blacklist, and sends to them are refused; a list bought or kept for years "
            "is the usual cause of a high rate."
        ),
    },
    "delivery_rate": {
        "counts": gettext_lazy("Messages the receiving mail server accepted."),
        "of": gettext_lazy("sent"),
        "fix": gettext_lazy(
            "Every bounce lowers it: invalid addresses, spam rejections and other refusals (full mailboxes, "
            "servers that are down). Clean your list, look at the bounce reasons in the send log, and keep "
            "your domain's SPF, DKIM and DMARC records published."
        ),
    },
    "spam_rate": {
        "counts": gettext_lazy(
            "Rejections because the receiving server judged the mail to be spam or against its policy "
            "(SMTP 5.7.x)."
        ),
        "of": gettext_lazy("sent"),
        "fix": gettext_lazy(
            "Send only to people who asked for your mail, with a subject that says what is inside; avoid "
            "link shorteners and image-only mail; keep SPF, DKIM and DMARC valid. A sudden jump after a "
            "new template or list points at that template or list."
        ),
    },
    "complaint_rate": {
        "counts": gettext_lazy("Recipients who marked the mail as spam (feedback-loop reports)."),
        "of": gettext_lazy("delivered"),
        "fix": gettext_lazy(
            "Make leaving easy: a visible unsubscribe link in every marketing mail (the template review "
            "warns when one is missing). Remind people why they receive your mail, and stop mailing "
            "those who have not opened anything for months."
        ),
    },
    "open_rate": {
        "counts": gettext_lazy("Messages opened at least once (unique opens)."),
        "of": gettext_lazy("delivered"),
        "fix": gettext_lazy(
            "Send what your readers expect, when they expect it, with a clear sender name and subject; "
            "mail the people who read you rather than the whole list."
        ),
    },
    "sent": {
        "counts": gettext_lazy("Messages counted against the day's cap."),
        "of": None,
        "fix": gettext_lazy(
            "A floor, not a target: on a small day a handful of bounces says little, so the rules with "
            "this condition only judge a day with more mail than that."
        ),
    },
    "sent_of_cap": {
        "counts": gettext_lazy("Messages sent today as a share of today's daily cap."),
        "of": gettext_lazy("the daily cap"),
        "fix": gettext_lazy(
            "A domain earns a higher cap by using the one it has: send more of your regular, wanted mail "
            "through this domain. The domain page shows how many more messages the rule needs today."
        ),
    },
}
KINDS = {
    "upgrade": {
        "title": gettext_lazy("Upgrade rules"),
        "when": gettext_lazy(
            "Checked after every change of today's counters. When every condition of one rule holds, the "
            "domain goes up one level at once, and the new cap is in force from that moment; several "
            "upgrades in one day are normal."
        ),
    },
    "downgrade": {
        "title": gettext_lazy("Downgrade rules"),
        "when": gettext_lazy(
            "Checked on a day's final counters when the day closes. When every condition of one rule holds, "
            "the domain goes down one level (never below 1) from the start of the next day. The domain "
            "page warns during the day when a rule holds so far."
        ),
    },
    "freeze": {
        "title": gettext_lazy("Account freeze"),
        "when": gettext_lazy(
            "Checked on the whole account's totals of the day (all its domains together) after every "
            "change. When every condition of one rule holds, the account is frozen until the end of the "
            "day: every send is refused and batch tasks fail their unsent messages. The freeze ends by "
            "itself at midnight; staff can lift it earlier."
        ),
    },
}


@dataclass(frozen=True)
class ConditionHelp:
    metric: str
    label: str
    text: str  # "invalid address rate < 5%"
    anchor: str


@dataclass(frozen=True)
class RuleHelp:
    name: str
    kind: str
    anchor: str
    conditions: list[ConditionHelp]


@dataclass(frozen=True)
class Section:
    kind: str
    title: str
    when: str
    rules: list[RuleHelp]


def rule_anchor(rule: str) -> str:
    return f"rule-{rule}"


def metric_anchor(metric: str) -> str:
    return f"rate-{metric}"


def help_url() -> str:
    return reverse("help:rules")


def _rules(kind: str, table) -> list[RuleHelp]:
    return [
        RuleHelp(
            name, kind, rule_anchor(name),
            [
                ConditionHelp(metric, wording.name(metric), condition_text(metric, op, value), metric_anchor(metric))
                for metric, op, value in conditions
            ],
        )
        for name, conditions in table.items()
    ]


def sections() -> list[Section]:
    """The three rule tables as they are configured now, in the order the engine applies them."""
    tables = (
        ("upgrade", levels.upgrade_rules()),
        ("downgrade", levels.downgrade_rules()),
        ("freeze", levels.freeze_rules()),
    )
    return [
        Section(kind, str(KINDS[kind]["title"]), str(KINDS[kind]["when"]), _rules(kind, table))
        for kind, table in tables
    ]


def metrics() -> list[dict]:
    """Each metric with what it counts, its denominator and how to improve it; rates first."""
    order = [*RATE_METRICS, "sent_of_cap", "sent"]
    return [
        {
            "metric": name, "anchor": metric_anchor(name), "label": wording.NAMES[name],
            "counts": METRICS[name]["counts"], "of": METRICS[name]["of"], "fix": METRICS[name]["fix"],
            "is_rate": name in RATE_METRICS,
        }
        for name in order
    ]


def level_table() -> list[dict]:
    return [{"level": n, "cap": cap} for n, cap in enumerate(levels.caps(), start=1)]


def exact_example() -> dict | None:
    """An invalid-address rate exactly at an upgrade rule's strict threshold, which fails it
    ("20 invalid among 400 sent is exactly 5%, which does not pass 'invalid < 5%'"); None when no
    upgrade rule has a strict invalid-rate condition."""
    for conditions in levels.upgrade_rules().values():
        for metric, op, value in conditions:
            if metric == "invalid_rate" and op in ("<", ">"):
                threshold = Fraction(Decimal(value))
                sent = 400
                while (sent * threshold / 100).denominator != 1:
                    sent *= 10
                return {
                    "count": int(sent * threshold / 100), "sent": sent, "value": value,
                    "condition": condition_text(metric, op, value),
                }
    return None


def upgrade_shares() -> list[str]:
    """The share of the cap each upgrade rule asks for (e.g. ["70"]), distinct, as configured."""
    return levels.upgrade_shares()
