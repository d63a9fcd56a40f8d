"""Help where it is needed: every rule on the domain page links to its plain explanation, and the help
page states the thresholds in force (settings.SES_REPUTATION), not copies of them."""

import copy
import math
import re
from html import unescape as html_unescape
from html.parser import HTMLParser

import pytest

from core.clock import platform_today
from domains.reputation import levels
from domains.reputation.services import record_outcome, reserve_quota
from domains.services import create_domain, force_verify

HELP = "/help/rules/"


class Page(HTMLParser):
    """The ids, the links and the text of a page, per element id where asked."""

    def __init__(self, html: str):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_data(self, data):
        self.text.append(data)

    def help_anchors(self) -> set[str]:
        return {href.split("#", 1)[1] for href in self.links if href.startswith(HELP + "#")}


def section(html: str, element_id: str) -> str:
    """The text of the <article> or <section> with this id (they do not nest in themselves)."""
    match = re.search(rf'<(article|section)[^>]*id="{re.escape(element_id)}".*?</\1>', html, re.S)
    assert match, f"no element #{element_id}"
    return html_unescape(re.sub(r"<[^>]+>", " ", match.group(0)))


@pytest.fixture
def domain(account):
    return force_verify(create_domain(account, "news.example.com"), None, actor_label="test", reason="test")


def threshold(table, rule: str, metric: str) -> str:
    """The value of one condition of a rule, as settings.SES_REPUTATION has it."""
    return next(value for name, _op, value in table[rule] if name == metric)


@pytest.fixture
def busy_day(domain):
    """Through the engine: an upgrade (U1) this morning, then a bad list: D1 pending, the account frozen (F1).

    The counts follow the rule tables in settings: the upgrade share of the level-1 cap, then a list
    whose invalid addresses pass F1's (and so D1's) rate over F1's floor of messages sent."""
    today = platform_today()
    morning = math.ceil(levels.cap_for(1) * max(float(s) for s in levels.upgrade_shares()) / 100)
    reserve_quota(domain, ["a@gmail.com"] * morning)
    record_outcome(domain, today, "delivered", "a@gmail.com", n=morning)  # the upgrade share, all delivered: U1
    domain.refresh_from_db()
    assert domain.level == 2
    freeze = levels.freeze_rules()
    bad_list = 400
    total = morning + bad_list
    assert int(threshold(freeze, "F1", "sent")) < total <= levels.cap_for(2)
    invalid = math.floor(total * float(threshold(freeze, "F1", "invalid_rate")) / 100) + 1
    assert float(threshold(levels.downgrade_rules(), "D1", "invalid_rate")) < invalid * 100 / total
    reserve_quota(domain, ["b@gmail.com"] * bad_list)
    record_outcome(domain, today, "delivered", "b@gmail.com", n=bad_list - invalid - 10)
    record_outcome(domain, today, "invalid", "b@gmail.com", n=invalid)
    assert domain.account.is_frozen()
    return domain


def test_each_rule_on_the_domain_page_links_to_its_explanation(client, owner, busy_day):
    client.force_login(owner)
    html = client.get(f"/domains/{busy_day.pk}/").content.decode()
    page = Page(html)
    linked = page.help_anchors()

    # The rules the page names: both upgrade rules (progress), U1 in the history, D1 pending, F1 frozen.
    assert {"rule-U1", "rule-U2", "rule-D1", "rule-F1"} <= linked
    named = set(re.findall(r"\b([UDF]\d)\b", " ".join(page.text)))
    assert named and {f"rule-{name}" for name in named} <= linked, named
    # Unmet conditions of today's progress link to how to improve that metric; the cap and rates too.
    assert "rate-invalid_rate" in linked and {"cap", "rates"} <= linked

    # The list of domains names the pending downgrade too.
    assert "rule-D1" in Page(client.get("/domains/").content.decode()).help_anchors()

    help_page = client.get(HELP)
    assert help_page.status_code == 200
    assert linked <= Page(help_page.content.decode()).ids, linked - Page(help_page.content.decode()).ids


def test_the_help_page_explains_each_rule_and_rate_with_its_fix(client, owner, settings):
    client.force_login(owner)
    html = client.get(HELP).content.decode()
    reputation = settings.SES_REPUTATION

    for table in ("UPGRADE_RULES", "DOWNGRADE_RULES", "FREEZE_RULES"):
        for rule in reputation[table]:
            assert f'id="rule-{rule}"' in html
    invalid = section(html, "rate-invalid_rate")
    assert "Clean your list" in invalid and "blacklist" in invalid and "sent" in invalid
    assert "delivered" in section(html, "rate-complaint_rate")  # SPEC §3.1: complaints per delivered
    assert "delivered" in section(html, "rate-open_rate")
    downgrade, freeze = reputation["DOWNGRADE_RULES"], reputation["FREEZE_RULES"]
    assert f"invalid > {threshold(downgrade, 'D1', 'invalid_rate')}%" in section(html, "rule-D1")
    assert f"sent > {threshold(downgrade, 'D1', 'sent')}" in section(html, "rule-D1")
    assert f"spam bounce > {threshold(freeze, 'F2', 'spam_rate')}%" in section(html, "rule-F2")
    share = threshold(reputation["UPGRADE_RULES"], "U1", "sent_of_cap")
    assert f"sent ≥ {share}% of the daily cap" in section(html, "rule-U1")
    assert f"{reputation['LEVEL_CAPS'][-1]:,}" in section(html, "cap")
    assert "about the invalid address rate" in section(html, "rule-D1")  # the link names the rate in full
    # The example of an exact comparison is a threshold in force, not a copy of one.
    limit = threshold(reputation["UPGRADE_RULES"], "U1", "invalid_rate")
    assert f'is exactly {limit}%, which does not pass "invalid < {limit}%"' in " ".join(section(html, "rates").split())


def test_the_help_page_follows_the_thresholds_in_settings(client, owner, settings):
    tuned = copy.deepcopy(settings.SES_REPUTATION)
    tuned["DOWNGRADE_RULES"]["D1"] = [("sent", ">", "250"), ("invalid_rate", ">", "7.5")]
    tuned["UPGRADE_RULES"]["U1"][0] = ("sent_of_cap", ">=", "65")
    tuned["UPGRADE_RULES"]["U1"][1] = ("invalid_rate", "<", "2.25")
    tuned["FREEZE_RULES"]["F3"] = [("sent", ">", "300"), ("complaint_rate", ">", "2")]
    tuned["LEVEL_CAPS"] = [750, *tuned["LEVEL_CAPS"][1:]]
    tuned["CAP_WARNING_PERCENT"] = "85"
    settings.SES_REPUTATION = tuned
    client.force_login(owner)

    html = client.get(HELP).content.decode()

    d1 = section(html, "rule-D1")
    assert "invalid > 7.5%" in d1 and "sent > 250" in d1 and "9%" not in d1
    assert "sent ≥ 65% of the daily cap" in section(html, "rule-U1")
    assert "complaint > 2%" in section(html, "rule-F3")
    rates = " ".join(section(html, "rates").split())
    assert '9 invalid addresses among 400 sent is exactly 2.25%, which does not pass "invalid < 2.25%"' in rates
    cap = section(html, "cap")
    assert "750" in cap and "65%" in cap and "85%" in cap


def test_the_help_page_is_for_signed_in_users(client):
    response = client.get(HELP)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_rule_reads_the_same_on_the_domain_pages_and_the_help_page(client, owner, busy_day):
    """One wording: the pending D1 on the domain page and the list names its conditions as the help page does."""
    client.force_login(owner)
    help_d1 = section(client.get(HELP).content.decode(), "rule-D1")
    conditions = [
        f"sent > {threshold(levels.downgrade_rules(), 'D1', 'sent')}",
        f"invalid > {threshold(levels.downgrade_rules(), 'D1', 'invalid_rate')}%",
    ]
    for page in (f"/domains/{busy_day.pk}/", "/domains/"):
        text = html_unescape(client.get(page).content.decode())
        explanation = " and ".join(conditions)
        assert explanation.capitalize() in text or explanation in text, page
    for condition in conditions:
        assert condition in help_d1
