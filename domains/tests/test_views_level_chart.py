"""The domain page's level-history chart: level and daily cap over time, each move marked with its rule."""

import datetime as dt
import json
import re

import pytest
from django.utils import timezone

from domains.models import LevelChange, SenderDomain

pytestmark = pytest.mark.django_db

T1 = dt.datetime(2031, 3, 10, 9, 30, tzinfo=dt.UTC)
T2 = dt.datetime(2031, 3, 10, 11, 0, tzinfo=dt.UTC)
T3 = dt.datetime(2031, 3, 12, 0, 0, tzinfo=dt.UTC)


def _figure(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="level-chart-data">(.*?)</script>', page, re.S)
    assert found, "the page carries no level-chart data block"
    return json.loads(found.group(1))


def _local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def _change(domain, at, from_level, to_level, rule):
    return LevelChange.objects.create(
        domain=domain, at=at, day=timezone.localtime(at).date(), effective_at=at,
        from_level=from_level, to_level=to_level, rule=rule, metrics={"sent": "400"},
    )


@pytest.fixture
def history(verified_domain):
    _change(verified_domain, T1, 1, 2, "U1")
    _change(verified_domain, T2, 2, 3, "U2")
    _change(verified_domain, T3, 3, 2, "D1")
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=2)
    return verified_domain


def test_the_chart_holds_every_level_change_with_its_level_cap_and_rule(client, member, history):
    client.force_login(member)
    figure = _figure(client.get(f"/domains/{history.pk}/").content.decode())
    level, cap = figure["data"]
    # start at level 1, the three moves oldest first, then the level in force now
    assert level["name"] == "Level" and cap["name"] == "Daily cap"
    assert level["y"] == [1, 2, 3, 2, 2]
    assert cap["y"] == [500, 1_000, 2_000, 1_000, 1_000]
    assert level["x"][1:4] == [_local(T1), _local(T2), _local(T3)]
    assert level["customdata"][1:4] == ["U1", "U2", "D1"]
    assert [a["text"] for a in figure["layout"]["annotations"]] == ["▲ U1", "▲ U2", "▼ D1"]
    assert [a["x"] for a in figure["layout"]["annotations"]] == [_local(T1), _local(T2), _local(T3)]


def test_the_chart_is_drawn_by_the_static_script_not_inline(client, member, history):
    client.force_login(member)
    page = client.get(f"/domains/{history.pk}/").content.decode()
    assert 'data-figure="level-chart-data"' in page
    assert "/static/js/charts.js" in page
    assert "/static/plotly/plotly.min.js" in page
    # every <script> either loads a file or is a JSON data block
    for tag in re.findall(r"<script[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag, tag


def test_a_domain_without_changes_charts_a_flat_line_at_its_level(client, member, verified_domain):
    client.force_login(member)
    figure = _figure(client.get(f"/domains/{verified_domain.pk}/").content.decode())
    assert figure["data"][0]["y"] == [1, 1]
    assert figure["data"][1]["y"] == [500, 500]
    assert figure["layout"].get("annotations", []) == []


def test_another_account_sees_no_chart_of_the_domain(client, outsider, history):
    client.force_login(outsider)
    response = client.get(f"/domains/{history.pk}/")
    assert response.status_code == 404
    assert b"level-chart-data" not in response.content


def test_a_new_domain_gets_a_week_of_axis_and_the_whole_cap_scale(client, owner, verified_domain):
    """A domain created a moment ago shows a week of time and caps placed on the full level table's scale."""
    import math

    from domains.reputation import levels

    client.force_login(owner)
    layout = _figure(client.get(f"/domains/{verified_domain.pk}/").content.decode())["layout"]

    start, end = (dt.datetime.fromisoformat(moment) for moment in layout["xaxis"]["range"])
    assert end - start >= dt.timedelta(days=7)
    low, high = layout["yaxis2"]["range"]
    assert 10**low < levels.cap_for(1) and 10**high > levels.cap_for(levels.top_level())
    assert layout["yaxis2"]["type"] == "log" and layout["yaxis2"]["dtick"] == 1  # ticks at 1,000 / 10,000 / …
    assert math.isclose(10**low, levels.cap_for(1) * 0.8)
