"""The level-history chart of a domain page: level and daily cap over time, each move marked with its rule.

Built from LevelChange rows (never from counters). The figure leaves as JSON inside a
`<script type="application/json">` block that static/js/charts.js draws, because
the CSP forbids inline scripts.
"""

from __future__ import annotations

import datetime as dt
import math

import plotly.graph_objects as go
import plotly.io as pio
from django.utils import timezone
from django.utils.html import _json_script_escapes
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from domains.models import LevelChange, SenderDomain
from domains.reputation import levels

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MIN_DAYS_SHOWN = 7


def _at(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime(TIME_FORMAT)


def _cap(level: int, domain: SenderDomain) -> int:
    return levels.cap_for(level, domain.custom_cap)


def level_points(domain: SenderDomain, changes: list[LevelChange], now: dt.datetime) -> list[dict]:
    """The steps of the line: where it starts, one point per change (oldest first), and now."""
    changes = sorted(changes, key=lambda c: (c.effective_at, c.pk))
    start_level = changes[0].from_level if changes else domain.level
    start = domain.verified_at or domain.created_at
    if changes:
        start = min(start, changes[0].effective_at)
    points = [{"at": _at(start), "level": start_level, "cap": _cap(start_level, domain), "rule": ""}]
    for change in changes:
        points.append(
            {
                "at": _at(change.effective_at),
                "level": change.to_level,
                "cap": _cap(change.to_level, domain),
                "rule": change.rule,
                "from_level": change.from_level,
            }
        )
    points.append({"at": _at(max(now, start)), "level": domain.level, "cap": domain.daily_cap, "rule": ""})
    return points


def level_figure(domain: SenderDomain, changes: list[LevelChange], now: dt.datetime | None = None) -> go.Figure:
    now = now or timezone.now()
    points = level_points(domain, changes, now)
    x = [p["at"] for p in points]
    # At least a week is shown: a domain created a minute ago gets a line, not a one-second axis.
    earliest = _at(now - dt.timedelta(days=MIN_DAYS_SHOWN))
    caps = [p["cap"] for p in points] + [levels.cap_for(1), levels.cap_for(levels.top_level())]
    low_cap, high_cap = min(caps), max(caps)
    rules_text = [p["rule"] for p in points]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            name=gettext("Level"), x=x, y=[p["level"] for p in points], customdata=rules_text,
            mode="lines+markers", line={"shape": "hv", "width": 2},
            hovertemplate="%{x}<br>" + gettext("level %(value)s") % {"value": "%{y}"} + "<br>%{customdata}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            name=gettext("Daily cap"), x=x, y=[p["cap"] for p in points], yaxis="y2", customdata=rules_text,
            mode="lines", line={"shape": "hv", "dash": "dot"},
            hovertemplate="%{x}<br>" + gettext("cap %(value)s") % {"value": "%{y:,}"} + "<br>%{customdata}<extra></extra>",
        )
    )
    for point in points:
        if point["rule"]:
            arrow = "▲" if point["level"] > point["from_level"] else "▼"
            fig.add_annotation(
                x=point["at"], y=point["level"], text=f"{arrow} {point['rule']}", showarrow=True,
                arrowhead=2, ax=0, ay=-24 if arrow == "▲" else 24,
            )
    fig.update_layout(
        margin={"l": 50, "r": 70, "t": 20, "b": 40},
        height=320,
        hovermode="closest",
        legend={"orientation": "h", "y": -0.2},
        xaxis={"type": "date", "range": [x[0] if x[0] < earliest else earliest, x[-1]]},
        yaxis={"title": {"text": gettext("Level")}, "range": [0, levels.top_level() + 1], "dtick": 1 if levels.top_level() <= 10 else 2},
        # The cap axis spans the whole level table (and a custom cap), so a young domain's one cap is
        # placed where it belongs, with whole-number ticks, rather than zoomed into a sliver of a decade.
        yaxis2={"title": {"text": gettext("Daily cap")}, "overlaying": "y", "side": "right", "type": "log",
                "showgrid": False, "tickformat": ",.0f", "dtick": 1, "range": [math.log10(low_cap * 0.8), math.log10(high_cap * 1.25)]},
    )
    return fig


def figure_json(fig: go.Figure) -> SafeString:
    """The figure as JSON safe to place inside a <script type="application/json"> element."""
    text = pio.to_json(fig, validate=False, pretty=False)
    return mark_safe(text.translate(_json_script_escapes))


def level_chart_json(domain: SenderDomain) -> SafeString:
    return figure_json(level_figure(domain, list(domain.level_changes.all())))
