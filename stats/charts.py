"""Plotly figures of the statistics page, built in Python and handed to the browser as JSON.

The browser only calls Plotly.newPlot on the JSON (static/js/charts.js): no inline script, so the
CSP's script-src stays 'self'. Thresholds are read from the rule tables in settings, never typed here.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from domains.reputation import levels
from stats.queries import RATES, Totals

# (label, how to read it from Totals) in the order SPEC §5 lists the daily volumes.
VOLUME_SERIES = (
    ("Requested", lambda t: t.requested),
    ("Sent", lambda t: t.accepted),
    ("Delivered", lambda t: t.delivered),
    ("Bounced", lambda t: t.bounces),
    ("Opened", lambda t: t.opened),
    ("Clicked", lambda t: t.clicked),
    ("Unsubscribed", lambda t: t.unsubscribed),
)

RATE_LABELS = {
    "invalid_rate": "Invalid address rate",
    "delivery_rate": "Delivery rate",
    "spam_rate": "Spam bounce rate",
    "complaint_rate": "Complaint rate",
    "open_rate": "Open rate",
}
RATE_DENOMINATORS = {
    "invalid_rate": "sent", "delivery_rate": "sent", "spam_rate": "sent",
    "complaint_rate": "delivered", "open_rate": "delivered",
}

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


def volume_figure(daily: list[tuple[dt.date, Totals]]) -> go.Figure:
    days = [day.isoformat() for day, _ in daily]
    figure = go.Figure()
    for label, read in VOLUME_SERIES:
        figure.add_trace(go.Scatter(x=days, y=[read(totals) for _, totals in daily], name=label, mode="lines+markers"))
    figure.update_layout(
        title="Daily volumes", height=380, margin={"l": 50, "r": 20, "t": 50, "b": 40},
        hovermode="x unified", legend={"orientation": "h", "y": -0.2},
        yaxis={"rangemode": "tozero", "title": "messages"},
    )
    return figure


def rate_figure(daily: list[tuple[dt.date, Totals]]) -> go.Figure:
    """One small chart per rate, sharing the date axis, each with the thresholds that read it."""
    days = [day.isoformat() for day, _ in daily]
    rules = thresholds()
    figure = make_subplots(
        rows=len(RATES), cols=1, shared_xaxes=True, vertical_spacing=0.05,
        subplot_titles=[f"{RATE_LABELS[r]} (% of {RATE_DENOMINATORS[r]})" for r in RATES],
    )
    for row, rate in enumerate(RATES, start=1):
        values = [_percent(totals.rates()[rate]) for _, totals in daily]
        figure.add_trace(
            go.Scatter(x=days, y=values, name=RATE_LABELS[rate], mode="lines+markers", showlegend=False),
            row=row, col=1,
        )
        top = max(values, default=0)
        for condition in rules[rate]:
            value = float(condition["value"])
            top = max(top, value)
            figure.add_hline(
                y=value, row=row, col=1, line={"color": condition["colour"], "dash": "dash", "width": 1},
                annotation_text=f"{condition['rule']} {condition['op']} {condition['value']}%",
                annotation_position="top left", annotation_font={"size": 10, "color": condition["colour"]},
            )
        figure.update_yaxes(range=[0, min(105, top * 1.15) or 1], ticksuffix="%", row=row, col=1)
    figure.update_layout(
        title="Rates against the rule thresholds", height=200 * len(RATES),
        margin={"l": 50, "r": 20, "t": 70, "b": 40}, hovermode="x unified",
    )
    return figure
