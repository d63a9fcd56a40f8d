"""The figures are built as plain dicts; they must be the very figures plotly.graph_objects builds.

The reference below is the plotly code the page used before (Figure, make_subplots, add_hline):
if a property name or a subplot's geometry drifts, the comparison says where.
"""

import datetime as dt
import json

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from domains.reputation import wording
from stats import charts
from stats.queries import RATES, Totals


def plotly_volume_figure(daily):
    days = [day.isoformat() for day, _ in daily]
    figure = go.Figure()
    for label, read in charts.VOLUME_SERIES:
        figure.add_trace(go.Scatter(x=days, y=[read(t) for _, t in daily], name=label, mode="lines+markers"))
    figure.update_layout(
        title="Daily volumes", height=380, margin={"l": 50, "r": 20, "t": 50, "b": 40},
        hovermode="x unified", legend={"orientation": "h", "y": -0.2},
        yaxis={"rangemode": "tozero", "title": "messages"},
    )
    return figure


def plotly_rate_figure(daily):
    days = [day.isoformat() for day, _ in daily]
    rules = charts.thresholds()
    figure = make_subplots(
        rows=len(RATES), cols=1, shared_xaxes=True, vertical_spacing=0.05,
        subplot_titles=[f"{wording.name(r)} (% of {wording.share_of(r)})" for r in RATES],
    )
    for row, rate in enumerate(RATES, start=1):
        values = [round(float(t.rates()[rate]), 4) for _, t in daily]
        figure.add_trace(
            go.Scatter(x=days, y=values, name=wording.name(rate), mode="lines+markers", showlegend=False),
            row=row, col=1,
        )
        top = max(values, default=0)
        for c in rules[rate]:
            top = max(top, float(c["value"]))
            figure.add_hline(
                y=float(c["value"]), row=row, col=1, line={"color": c["colour"], "dash": "dash", "width": 1},
                annotation_text=f"{c['rule']} {c['op']} {c['value']}%", annotation_position="top left",
                annotation_font={"size": 10, "color": c["colour"]},
            )
        figure.update_yaxes(range=[0, min(105, top * 1.15) or 1], ticksuffix="%", row=row, col=1)
    figure.update_layout(
        title="Rates against the rule thresholds", height=200 * len(RATES),
        margin={"l": 50, "r": 20, "t": 70, "b": 40}, hovermode="x unified",
    )
    return figure


def same(ours, theirs, path="figure"):
    """Equal JSON, floats to 1e-9 (plotly sums the subplot domains in another order)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), (path, sorted(ours), sorted(theirs))
        for key in theirs:
            same(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            same(a, b, f"{path}[{n}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, abs=1e-9), path
    else:
        assert ours == theirs, path


DAYS = [
    (dt.date(2026, 5, 30), Totals()),
    (dt.date(2026, 5, 31), Totals(requested=40, accepted=38, delivered=30, invalid=5, spam=1, bounced=2,
                                  complaints=1, opened=12, clicked=3, unsubscribed=1)),
    (dt.date(2026, 6, 1), Totals(requested=19, accepted=19, delivered=16, invalid=2, spam=1, opened=4,
                                 clicked=1, unsubscribed=1, complaints=1)),
]


@pytest.mark.parametrize("days", [DAYS, DAYS[:1], []], ids=["traffic", "one empty day", "no days"])
def test_the_dict_figures_are_the_figures_plotly_builds(days):
    same(json.loads(json.dumps(charts.volume_figure(days))), json.loads(plotly_volume_figure(days).to_json()))
    same(json.loads(json.dumps(charts.rate_figure(days))), json.loads(plotly_rate_figure(days).to_json()))


def test_a_tuned_threshold_is_in_both(settings):
    from copy import deepcopy

    tuned = deepcopy(settings.SES_REPUTATION)
    tuned["DOWNGRADE_RULES"]["D2"] = [("delivery_rate", "<", "70")]
    settings.SES_REPUTATION = tuned
    ours = charts.rate_figure(DAYS)
    same(json.loads(json.dumps(ours)), json.loads(plotly_rate_figure(DAYS).to_json()))
    assert "D2 < 70%" in [a["text"] for a in ours["layout"]["annotations"]]


def test_the_json_handed_to_the_page_is_the_figure_and_cannot_close_its_script_element(settings):
    from copy import deepcopy

    tuned = deepcopy(settings.SES_REPUTATION)
    tuned["DOWNGRADE_RULES"]["D2"] = [("delivery_rate", "<", "70")]
    settings.SES_REPUTATION = tuned
    for figure in (charts.volume_figure(DAYS), charts.rate_figure(DAYS)):
        text = charts.figure_json(figure)
        assert json.loads(text) == figure
        assert "<" not in text and ">" not in text and "&" not in text
    assert "D2 \\u003C 70%" in charts.figure_json(charts.rate_figure(DAYS))
