"""Links shaped like phishing are pointed out to staff reviewing a template (issue 12, requirement 6)."""

import pytest
from django.urls import reverse

from sending import services
from sending.link_warnings import suspicious_links


@pytest.mark.parametrize(
    ("html", "why"),
    [
        ('<a href="https://bank.example@evil.example/login">Sign in</a>', "user name"),
        ('<a href="http://203.0.113.7/login">Sign in</a>', "bare IP address"),
        ('<a href="https://[2001:db8::1]/login">Sign in</a>', "bare IP address"),
        ('<a href="https://xn--pypal-4ve.example/">PayPal</a>', "punycode"),
        ('<a href="https://evil.example/login">www.bank.example</a>', "shows www.bank.example but the link goes to evil.example"),
        ("<a href='https://evil.example/x'>https://bank.example/login</a>", "shows bank.example"),
        ('<a href="https://evil.example/x"><b>bank.example</b></a>', "shows bank.example"),
        ('<a href="javascript:alert(1)">Open</a>', "javascript: link"),
    ],
)
def test_a_link_shaped_like_phishing_is_pointed_out(html, why):
    found = suspicious_links(f"<p>Dear customer, {html}</p>")

    assert len(found) == 1 and why in found[0][1]


@pytest.mark.parametrize(
    "html",
    [
        '<a href="https://shop.example/sale?a=1&amp;b=2">the sale</a>',
        '<a href="https://www.shop.example/">shop.example</a>',  # the text names the same site
        '<a href="https://shop.example/">www.shop.example</a>',
        '<a href="https://mail.shop.example/">shop.example</a>',
        '<a href="{{unsubscribe_url}}">Unsubscribe</a>',
        '<a href="mailto:help@shop.example">help@shop.example</a>',
        '<a href="#top">Top</a>',
        "<p>No links at all</p>",
    ],
)
def test_ordinary_links_are_not_pointed_out(html):
    assert suspicious_links(html) == []


def test_unclosed_links_end_where_the_next_link_begins_as_in_a_browser():
    # A template of unclosed <a> tags (up to the 1 MB a template may hold) once made the changelist
    # scan to the end of the text from every tag; tags and closings are now paired by position.
    html = '<a href="http://203.0.113.7/">' * 20_000 + '<a href="https://evil.example/">www.bank.example</a>'

    found = suspicious_links(html)

    assert len(found) == 20_001
    assert set(found[:-1]) == {("http://203.0.113.7/", "the address is a bare IP address")}
    assert found[-1] == ("https://evil.example/", "the text shows www.bank.example but the link goes to evil.example")
    assert suspicious_links('<a href="https://evil.example/">www.bank.example <a href="/x">more</a>') == [
        ("https://evil.example/", "the text shows www.bank.example but the link goes to evil.example")
    ]


def test_staff_see_the_suspicious_links_on_the_template_page_escaped(client, staff_user, account):
    template = services.create_template(
        account, name="Verify", subject="Verify your account",
        html='<p><a href="https://evil.example/&quot;&gt;&lt;script&gt;">www.bank.example</a></p>',
    )
    client.force_login(staff_user)

    page = client.get(reverse("admin:sending_template_change", args=[template.pk]))
    listing = client.get(reverse("admin:sending_template_changelist"))

    assert page.status_code == 200
    assert "the text shows www.bank.example but the link goes to evil.example" in page.content.decode()
    assert b'"><script>' not in page.content
    assert listing.status_code == 200 and b"Suspicious links" in listing.content
