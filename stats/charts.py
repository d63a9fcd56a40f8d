"""Plotly figures of the statistics page, built in Python and handed to the browser as JSON.

The browser only calls Plotly.newPlot on the JSON (static/js/charts.js): no inline script, so the
CSP's script-src stays 'self'. Thresholds are read from the rule tables in settings, never typed here.

The figures are plain dicts in plotly's JSON schema, the same figures plotly.graph_objects would
build (stats/tests/test_charts.py compares them) without its validation of every property, which
cost more than the rest of the page together. Only the theme comes from plotly, once per process.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from fractions import Fraction

from django.utils import translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_noop

from domains.reputation import levels, wording
from stats.queries import RATES, Totals

# (label, how to read it from Totals) in the order SPEC §5 lists the daily volumes.
# Marked for the catalogs and kept in English; a figure words them (gettext) in its request's language.
VOLUME_SERIES = (
    (gettext_noop("Requested"), lambda t: t.requested),
    (gettext_noop("Sent"), lambda t: t.accepted),
    (gettext_noop("Delivered"), lambda t: t.delivered),
    (gettext_noop("Bounced"), lambda t: t.bounces),
    (gettext_noop("Opened"), lambda t: t.opened),
    (gettext_noop("Clicked"), lambda t: t.clicked),
    (gettext_noop("Unsubscribed"), lambda t: t.unsubscribed),
)

# The rates' names and what each is a share of: domains.reputation.wording (NAMES, SHARE_OF).

# One colour per kind of rule, so a reader tells "go up" from "go down" from "frozen" at a glance.
RULE_KINDS = (
    ("upgrade", "#1a7f37", levels.upgrade_rules),
    ("downgrade", "#b35900", levels.downgrade_rules),
    ("freeze", "#c62828", levels.freeze_rules),
)


def thresholds() -> dict[str, list[dict]]:
    """Per rate, every rule condition on it: {"rule", "kind", "op", "value"} from the settings tables."""
    found: dict[str, list[dict]] = {rate: [] for rate in RATES}
    for kind, colour, table in RULE_KINDS:
        for rule, conditions in table().items():
            for metric, op, value in conditions:
                if metric in found:
                    found[metric].append({"rule": rule, "kind": kind, "colour": colour, "op": op, "value": value})
    return found


def _percent(value: Fraction) -> float:
    # Plotting only: the rules compare the exact fractions; a chart needs a float.
    return round(float(value), 4)


@functools.cache
def theme() -> dict:
    """plotly's default template (colours, grid, fonts) as JSON, computed once per process."""
    import plotly.io as pio

    return _static(pio.templates[pio.templates.default].to_plotly_json())


def _escape(text: str) -> str:
    # What django.utils.html.json_script does, so the JSON cannot close its <script> element.
    return text.replace("&", "\\u0026").replace("<", "\\u003C").replace(">", "\\u003E")


# Parts of a figure that are the same on every page (the theme; the threshold lines and labels of a
# rule table), by id: each is built once, kept alive here, and serialised once.
_STATIC: dict[int, tuple[object, str]] = {}


def _static(part):
    if id(part) not in _STATIC:
        _STATIC[id(part)] = (part, _escape(json.dumps(part)))
    return part


def figure_json(figure: dict) -> SafeString:
    """The figure as the text of a <script type="application/json"> block, like the json_script filter.

    Parts built by _static are spliced in already serialised; only the day-by-day data is dumped.
    """
    layout, spliced = {}, {}
    for key, value in figure["layout"].items():
        if id(value) in _STATIC:
            layout[key] = mark = f"\u0000{key}"
            spliced[json.dumps(mark)] = _STATIC[id(value)][1]
        else:
            layout[key] = value
    text = _escape(json.dumps({**figure, "layout": layout}))
    for mark, part in spliced.items():
        text = text.replace(mark, part, 1)
    return mark_safe(text)


def volume_figure(daily: list[tuple[dt.date, Totals]]) -> dict:
    days = [day.isoformat() for day, _ in daily]
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": gettext(label), "x": days,
             "y": [read(totals) for _, totals in daily]}
            for label, read in VOLUME_SERIES
        ],
        "layout": {
            "template": theme(), "title": {"text": gettext("Daily volumes")}, "height": 380,
            "margin": {"l": 50, "r": 20, "t": 50, "b": 40}, "hovermode": "x unified",
            "legend": {"orientation": "h", "y": -0.2},
            "yaxis": {"rangemode": "tozero", "title": {"text": gettext("messages")}},
        },
    }


# The rate charts' rows share the height like plotly.subplots.make_subplots(rows=5, vertical_spacing=0.05).
VERTICAL_SPACING = 0.05


def _axis(row: int) -> str:
    return "" if row == 1 else str(row)


@functools.lru_cache(maxsize=8)
def _rate_layout(rules: tuple, language: str | None = None) -> dict:
    """What the rate charts draw whatever the data, for one rule table: titles, threshold lines and
    their labels, the axes' places, and the highest threshold of each rate (the axis must show it)."""
    count = len(RATES)
    height = (1 - VERTICAL_SPACING * (count - 1)) / count
    titles, lines, labels, axes, tops = [], [], [], {}, {}
    for row, (rate, conditions) in enumerate(rules, start=1):
        n = _axis(row)
        top_edge = 1 - (row - 1) * (height + VERTICAL_SPACING)
        tops[rate] = 0
        for rule, colour, op, value in conditions:
            tops[rate] = max(tops[rate], float(value))
            lines.append({
                "type": "line", "xref": f"x{n} domain", "yref": f"y{n}", "x0": 0, "x1": 1,
                "y0": float(value), "y1": float(value), "line": {"color": colour, "dash": "dash", "width": 1},
            })
            labels.append({
                "text": f"{rule} {op} {value}%", "showarrow": False, "xref": f"x{n} domain", "yref": f"y{n}",
                "x": 0, "y": float(value), "xanchor": "left", "yanchor": "bottom", "font": {"size": 10, "color": colour},
            })
        x_axis = {"anchor": f"y{n}", "domain": [0.0, 1.0]}
        if row < count:
            x_axis.update(matches=f"x{_axis(count)}", showticklabels=False)
        axes[rate] = (n, x_axis, [top_edge - height, top_edge])
        titles.append({
            "text": gettext("%(rate)s (%% of %(of)s)") % {
                "rate": wording.name(rate), "of": wording.share_of(rate),
            },
            "showarrow": False, "font": {"size": 16},
            "xref": "paper", "yref": "paper", "x": 0.5, "y": top_edge, "xanchor": "center", "yanchor": "bottom",
        })
    return {"annotations": _static(titles + labels), "shapes": _static(lines), "axes": axes, "tops": tops}


def rate_figure(daily: list[tuple[dt.date, Totals]]) -> dict:
    """One small chart per rate, sharing the date axis, each with the thresholds that read it."""
    days = [day.isoformat() for day, _ in daily]
    rates_by_day = [totals.rates() for _, totals in daily]  # computed once per Totals (stats.queries)
    found = thresholds()
    static = _rate_layout(tuple(
        (rate, tuple((c["rule"], c["colour"], c["op"], c["value"]) for c in found[rate])) for rate in RATES
    ), translation.get_language())  # the titles are worded per language
    data, layout_axes = [], {}
    for rate in RATES:
        n, x_axis, domain = static["axes"][rate]
        values = [_percent(rates[rate]) for rates in rates_by_day]
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": wording.name(rate), "showlegend": False,
            "x": days, "y": values, "xaxis": f"x{n}", "yaxis": f"y{n}",
        })
        top = max(max(values, default=0), static["tops"][rate])
        layout_axes[f"xaxis{n}"] = x_axis
        layout_axes[f"yaxis{n}"] = {
            "anchor": f"x{n}", "domain": domain, "range": [0, min(105, top * 1.15) or 1], "ticksuffix": "%",
        }
    return {
        "data": data,
        "layout": {
            "template": theme(), **layout_axes, "annotations": static["annotations"], "shapes": static["shapes"],
            "title": {"text": gettext("Rates against the rule thresholds")}, "height": 200 * len(RATES),
            "margin": {"l": 50, "r": 20, "t": 70, "b": 40}, "hovermode": "x unified",
        },
    }
