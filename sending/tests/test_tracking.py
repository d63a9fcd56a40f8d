"""Signed tokens and the rewriting of links in outgoing HTML (SPEC §4.2)."""

from __future__ import annotations

import re

import pytest
from django.core import signing

from sending import tracking
from sending.delivery import deliver_messages
from sending.models import Message, Template
from sending.tests.send_fixtures import SENDER, sender  # noqa: F401  (fixture)


class FakeMessage:
    message_id = "0123456789abcdef0123456789abcdef"


def test_a_token_reads_back_its_kind_message_and_url():
    token = tracking.make_token(tracking.CLICK, "abc", "https://shop.example/a?b=1")

    assert tracking.read_token(token) == (tracking.CLICK, "abc", "https://shop.example/a?b=1")
    assert tracking.read_token(token, tracking.CLICK)[2] == "https://shop.example/a?b=1"


def test_tokens_are_not_sequential():
    assert tracking.make_token(tracking.OPEN, "m1") != tracking.make_token(tracking.OPEN, "m2")
    assert "m1" not in tracking.make_token(tracking.OPEN, "m1").split(".")[0]


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # altered signature
        lambda t: "c." + signing.dumps(["abc", "https://evil.example/"], salt="wrong"),  # our format, wrong key
        lambda t: "c." + signing.dumps(["abc", "https://evil.example/"], salt="sesconsole.tracking.open"),
        lambda t: "x" + t[1:],  # an unknown kind
        lambda t: "",
        lambda t: "garbage",
    ],
)
def test_a_forged_token_is_refused(forge):
    token = tracking.make_token(tracking.CLICK, "abc", "https://shop.example/")

    with pytest.raises(tracking.BadToken):
        tracking.read_token(forge(token))


def test_a_token_of_one_kind_is_refused_as_another():
    token = tracking.make_token(tracking.OPEN, "abc")
    swapped = "u" + token[1:]  # an open token presented on the unsubscribe path

    with pytest.raises(tracking.BadToken):
        tracking.read_token(token, tracking.UNSUBSCRIBE)
    with pytest.raises(tracking.BadToken):
        tracking.read_token(swapped)


def test_rewriting_sends_web_links_through_click_urls_and_adds_the_pixel(settings):
    settings.SES_PUBLIC_URL = "https://ses.example"
    unsubscribe = tracking.unsubscribe_url(FakeMessage)
    html = (
        '<html><body><a href="https://shop.example/p?a=1&amp;b=2">Shop</a> '
        "<a href='http://old.example/'>Old</a> <a href=mailto:help@shop.example>Mail</a> "
        f'<a href="#top">Top</a> <a href="{unsubscribe}">Unsubscribe</a></body></html>'
    )

    out = tracking.rewrite_html(FakeMessage, html)

    hrefs = re.findall(r'href=["\']?([^"\' >]+)', out)
    clicks = [h for h in hrefs if h.startswith("https://ses.example/t/c/")]
    assert len(clicks) == 2
    targets = [tracking.read_token(c.rsplit("/", 1)[1].replace("&amp;", "&"), tracking.CLICK)[2] for c in clicks]
    assert targets == ["https://shop.example/p?a=1&b=2", "http://old.example/"]
    assert "mailto:help@shop.example" in hrefs and "#top" in hrefs and unsubscribe in hrefs
    pixel = re.search(r'<img src="(https://ses.example/t/o/[^"]+)"[^>]*></body>', out)
    assert pixel and tracking.read_token(pixel.group(1).rsplit("/", 1)[1], tracking.OPEN)[1] == FakeMessage.message_id


def test_html_without_a_body_gets_the_pixel_at_the_end():
    out = tracking.rewrite_html(FakeMessage, "<p>Hi</p>")

    assert out.startswith("<p>Hi</p><img ") and "/t/o/" in out


def test_delivered_mail_carries_working_tracking_links(smtp_sink, sender, account, client):  # noqa: F811
    from sending import services

    template = services.create_template(
        account, name="Promo", subject="Sale",
        html='<p>See <a href="https://shop.example/sale">the sale</a>.</p><p><a href="{{unsubscribe}}">Unsubscribe</a></p>',
    )
    assert template.status == Template.APPROVED, template.review_reason
    result = services.send_email(
        account, from_address=SENDER, destinations=["ann@example.org"], template_id=template.pk, template_data={}
    )
    message = Message.objects.get(message_id=result.message_ids[0])

    deliver_messages([message.pk])

    html = smtp_sink.received[0].message.get_body(("html",)).get_content()
    click = re.search(r'href="[^"]*(/t/c/[^"]+)"', html).group(1)
    unsubscribe = re.search(r'href="[^"]*(/t/u/[^"]+)"', html).group(1)
    pixel = re.search(r'src="[^"]*(/t/o/[^"]+)"', html).group(1)
    assert "shop.example" not in click  # the target is inside the signed token only
    assert tracking.read_token(unsubscribe.rsplit("/", 1)[1], tracking.UNSUBSCRIBE)[1] == message.message_id

    response = client.get(click)
    assert response.status_code == 302 and response["Location"] == "https://shop.example/sale"
    assert client.get(pixel).status_code == 200
    message.refresh_from_db()
    assert message.opened_at and message.clicked_at
    assert client.get(click[:-3] + "xyz").status_code == 404  # forged
