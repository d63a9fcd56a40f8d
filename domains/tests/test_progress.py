"""Today's progress toward the next level (SPEC §3.2): every condition with its value, threshold and mark."""

import copy

import pytest

from domains.models import SenderDomain
from domains.progress import describe
from domains.reputation.rules import DayMetrics
from sending.tests.send_fixtures import set_sent

pytestmark = pytest.mark.django_db


def _texts(progress) -> dict[str, str]:
    return {rule.rule: rule.text for rule in progress.upgrades}


def test_349_sends_of_a_500_cap_are_one_short_of_the_350_needed():
    progress = describe(DayMetrics(sent=349, delivered=349), level=1, cap=500)
    assert _texts(progress)["U1"].startswith("sent 349 of the 350 needed ✗ (1 more)")
    assert [c.more for c in progress.upgrades[0].conditions if c.metric == "sent_of_cap"] == [1]
    assert not any(rule.met for rule in progress.upgrades)


def test_350_sends_of_a_500_cap_meet_the_volume_condition():
    progress = describe(DayMetrics(sent=350, delivered=350), level=1, cap=500)
    assert _texts(progress)["U1"].startswith("sent 350 of the 350 needed ✓;")
    assert progress.upgrades[0].met  # clean traffic: every U1 condition holds


def test_exactly_92_percent_delivery_is_shown_as_not_met():
    progress = describe(DayMetrics(sent=350, delivered=322), level=1, cap=500)
    assert "delivery 92% ✗ needs > 92%" in _texts(progress)["U1"]
    assert not progress.upgrades[0].met
    assert "delivery 92% > 90% ✓" in _texts(progress)["U2"]


def test_exactly_5_percent_invalid_is_shown_as_not_met():
    progress = describe(DayMetrics(sent=400, delivered=380, invalid=20), level=1, cap=500)
    assert "invalid 5% ✗ needs < 5%" in _texts(progress)["U1"]
    assert "delivery 95% > 92% ✓" in _texts(progress)["U1"]
    assert not progress.upgrades[0].met


def test_a_rate_just_off_its_threshold_is_not_rounded_onto_it():
    # 9,201 of 10,001 is 92.0008%: two decimals would print "92.00%", which reads as "not above 92%".
    progress = describe(DayMetrics(sent=10_001, delivered=9_201), level=5, cap=10_000)
    assert "delivery 92.001% > 92% ✓" in _texts(progress)["U1"]


def test_the_issue_example_reads_as_the_issue_says():
    progress = describe(DayMetrics(sent=312, delivered=300, invalid=19), level=1, cap=500)
    text = _texts(progress)["U1"]
    assert text.startswith("sent 312 of the 350 needed ✗ (38 more); invalid 6.09% ✗ needs < 5%; delivery 96.15% > 92% ✓")


def test_at_the_top_level_no_upgrade_rule_is_offered():
    progress = describe(DayMetrics(sent=900_000, delivered=900_000), level=20, cap=1_000_000)
    assert progress.at_top
    assert progress.upgrades == []


def test_thresholds_come_from_settings(settings):
    settings.SES_REPUTATION = copy.deepcopy(settings.SES_REPUTATION)
    settings.SES_REPUTATION["UPGRADE_RULES"]["U1"][2] = ("delivery_rate", ">", "97")
    progress = describe(DayMetrics(sent=400, delivered=384), level=1, cap=500)
    assert "delivery 96% ✗ needs > 97%" in _texts(progress)["U1"]


def test_it_lists_every_downgrade_rule_today_meets():
    progress = describe(DayMetrics(sent=400, delivered=200, invalid=40, spam=30), level=3, cap=2_000)
    assert progress.downgrades_met == ["D1", "D2", "D3"]
    assert progress.pending_downgrade == "D1"
    assert describe(DayMetrics(sent=300, invalid=300), level=3, cap=2_000).downgrades_met == []


def test_the_domain_page_shows_todays_progress_for_both_rules(client, member, verified_domain):
    set_sent(verified_domain, 312, delivered=300, invalid=19, opened=200)
    client.force_login(member)
    page = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    assert "Toward the next level" in page
    assert "sent 312 of the 350 needed ✗ (38 more)" in page
    assert "invalid 6.09% ✗ needs &lt; 5%" in page
    assert "delivery 96.15% &gt; 92% ✓" in page
    assert "open 66.67% &gt; 50% ✓" in page
    assert 'data-rule="U1"' in page and 'data-rule="U2"' in page


def test_the_domain_page_shows_zero_progress_before_the_first_send(client, member, verified_domain):
    client.force_login(member)
    page = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    assert "sent 0 of the 350 needed ✗ (350 more)" in page


def test_the_domain_page_of_a_level_20_domain_says_a_work_order_can_raise_the_cap(client, member, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=20)
    client.force_login(member)
    page = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    assert "top level — a work order can raise the cap" in page
    assert 'data-rule="U1"' not in page


def test_the_domain_page_warns_of_the_downgrade_rules_today_meets(client, member, verified_domain):
    SenderDomain.objects.filter(pk=verified_domain.pk).update(level=2)
    set_sent(verified_domain, 400, delivered=360, invalid=40)
    client.force_login(member)
    page = client.get(f"/domains/{verified_domain.pk}/").content.decode()
    # The rule's name links to its explanation on the help page.
    assert "Today's counters meet <a href=\"/help/rules/#rule-D1\">D1 — invalid &gt; 9%</a>." in page
    assert "goes down one level from tomorrow" in page


def test_another_accounts_domain_page_shows_no_progress(client, outsider, verified_domain):
    client.force_login(outsider)
    assert client.get(f"/domains/{verified_domain.pk}/").status_code == 404
