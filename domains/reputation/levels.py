"""The level table and rule tables, read from settings.SES_REPUTATION (the one place they live).

    caps, top_level, cap_for                       the daily cap of each level (a custom cap at the top)
    upgrade_rules, downgrade_rules, freeze_rules   the rule tables rules.py evaluates
    upgrade_shares                                 the share of the cap each upgrade rule asks for
    cap_warning_percent                            when members are told a domain nears its cap
    validate                                       refuse a mistyped table (the system check)
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from domains.reputation.rules import METRIC_PARTS, OPERATORS, RuleTable

METRICS = set(METRIC_PARTS)  # what a rule table may name: the metrics rules.py defines


def _config() -> dict:
    return settings.SES_REPUTATION


def caps() -> list[int]:
    return list(_config()["LEVEL_CAPS"])


def top_level() -> int:
    return len(_config()["LEVEL_CAPS"])


def cap_for(level: int, custom_cap: int | None = None) -> int:
    """The daily cap of a level; a custom cap (work order) applies only at the top level."""
    table = _config()["LEVEL_CAPS"]
    if not 1 <= level <= len(table):
        raise ValueError(f"level must be 1..{len(table)}, not {level}")
    if custom_cap and level == len(table):
        return custom_cap
    return table[level - 1]


def upgrade_rules() -> RuleTable:
    return _config()["UPGRADE_RULES"]


def downgrade_rules() -> RuleTable:
    return _config()["DOWNGRADE_RULES"]


def freeze_rules() -> RuleTable:
    return _config()["FREEZE_RULES"]


def upgrade_shares() -> list[str]:
    """The share of the cap each upgrade rule asks for (e.g. ["70"]), distinct, in the order of the rules."""
    shares: list[str] = []
    for conditions in upgrade_rules().values():
        for metric, _op, value in conditions:
            if metric == "sent_of_cap" and value not in shares:
                shares.append(value)
    return shares


def cap_warning_percent() -> str:
    return _config()["CAP_WARNING_PERCENT"]


def validate(config: dict) -> None:
    """Refuse a table an operator mistyped (called from the system check)."""
    level_caps = config.get("LEVEL_CAPS") or []
    if not level_caps or any(not isinstance(c, int) or c <= 0 for c in level_caps):
        raise ImproperlyConfigured("SES_REPUTATION LEVEL_CAPS must be positive integers")
    if list(level_caps) != sorted(level_caps):
        raise ImproperlyConfigured("SES_REPUTATION LEVEL_CAPS must rise with the level")
    for table in ("UPGRADE_RULES", "DOWNGRADE_RULES", "FREEZE_RULES"):
        for name, conditions in config.get(table, {}).items():
            for metric, op, value in conditions:
                if metric not in METRICS or op not in OPERATORS:
                    raise ImproperlyConfigured(f"SES_REPUTATION {table}.{name}: bad condition {metric} {op} {value}")
                try:
                    float(value)
                except (TypeError, ValueError):
                    raise ImproperlyConfigured(f"SES_REPUTATION {table}.{name}: {value!r} is not a number") from None
