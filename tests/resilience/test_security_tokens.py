"""Security: the open, click and unsubscribe links of real mail cannot be forged or enumerated,
and the click redirect leads only to URLs that were in the message.

Two messages are sent through the engine and delivered over SMTP (tests/smtpsink.py); the links are
read from the mail the recipients got. A refused link records nothing: no open, click, unsubscribe,
event or suppression, and no counter moves.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import dataclass

import pytest
from django.core import signing

from domains.models import DomainDay
from sending import services, tracking
from sending.delivery import deliver_messages
from sending.models import Message, MessageEvent, Suppression, Template
from sending.tests.send_fixtures import SENDER, sender  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

LINKS = ["https://shop.example/sale?c=1&d=2", "http://blog.example/post/7#top"]
HTML = (
    f'<p>See <a href="{LINKS[0].replace("&", "&amp;")}">the sale</a> and <a href=\'{LINKS[1]}\'>the post</a>.</p>'
    '<p><a href="mailto:help@shop.example">Mail us</a> <a href="javascript:alert(1)">x</a></p>'
)
READERS = ["ann@example.org", "bob@example.org"]


@dataclass
class Mail:
    message: Message
    clicks: list[str]
    pixel: str
    unsubscribe: str  # from the List-Unsubscribe header


def _path(url: str) -> str:
    return "/t/" + url.split("/t/", 1)[1]


@pytest.fixture
def mails(smtp_sink, sender, account) -> list[Mail]:  # noqa: F811
    template = services.create_template(account, name="Promo", subject="Sale", html=HTML)
    assert template.status == Template.APPROVED, template.review_reason
    messages = []
    for reader in READERS:
        result = services.send_email(
            account, from_address=SENDER, destinations=[reader], template_id=template.pk, template_data={},
            unsubscribe=1,
        )
        messages.append(Message.objects.get(message_id=result.message_ids[0]))
    deliver_messages([m.pk for m in messages])
    assert len(smtp_sink.received) == 2
    found = []
    for message in messages:
        mail = next(r.message for r in smtp_sink.received if message.recipient in r.message["To"])
        html = mail.get_body(("html",)).get_content()
        clicks = [_path(u) for u in re.findall(r'href="([^"]*/t/c/[^"]+)"', html)]
        pixel = _path(re.search(r'src="([^"]*/t/o/[^"]+)"', html).group(1))
        unsubscribe = _path(re.search(r"<(http[^>]*/t/u/[^>]+)>", mail["List-Unsubscribe"]).group(1))
        found.append(Mail(Message.objects.get(pk=message.pk), clicks, pixel, unsubscribe))
    return found


def recorded() -> tuple:
    """Everything a tracking link can write."""
    return (
        list(Message.objects.order_by("pk").values_list("opened_at", "clicked_at", "unsubscribed_at")),
        MessageEvent.objects.count(),
        Suppression.objects.count(),
        list(DomainDay.objects.order_by("pk").values_list("opened", "clicked", "unsubscribed")),
    )


def tamper(token_path: str) -> str:
    """One character of the signature changed."""
    return token_path[:-1] + ("A" if token_path[-1] != "A" else "B")


def _split(token_path: str) -> tuple[str, str, str]:
    """(/t/x/ prefix with the kind letter and dot, payload, "timestamp:signature") of a token path."""
    head, token = token_path.rsplit("/", 1)
    letter, _, signed = token.partition(".")
    payload, _, stamp_and_signature = signed.partition(":")
    return f"{head}/{letter}.", payload, stamp_and_signature


def _value_of(payload: list[str]) -> str:
    """A payload encoded as django.core.signing encodes it (compressed), without any signature."""
    data = json.dumps(payload, separators=(",", ":")).encode()
    compressed = zlib.compress(data)
    if len(compressed) < len(data) - 1:
        return "." + base64.urlsafe_b64encode(compressed).decode().rstrip("=")
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- The control: the links work, each exactly once as intended ---------------------------------


def test_the_links_of_the_mail_work(client, mails):
    ann = mails[0]
    assert len(ann.clicks) == 2  # the two web links; mailto: and javascript: are left alone
    targets = [client.get(c)["Location"] for c in ann.clicks]
    assert targets == LINKS
    assert client.get(ann.pixel).status_code == 200
    assert client.post(ann.unsubscribe, {"List-Unsubscribe": "One-Click"}).status_code == 200
    message = Message.objects.get(pk=ann.message.pk)
    assert message.opened_at and message.clicked_at and message.unsubscribed_at
    assert Suppression.objects.filter(email=ann.message.recipient, reason=Suppression.UNSUBSCRIBED).exists()
    # Bob's message is untouched by Ann's links.
    assert Message.objects.get(pk=mails[1].message.pk).unsubscribed_at is None


# --- Forgery -------------------------------------------------------------------------------------


def test_an_altered_signature_is_refused_and_records_nothing(client, mails):
    before = recorded()
    ann = mails[0]
    for path in [*ann.clicks, ann.unsubscribe]:
        assert client.get(tamper(path)).status_code == 404, path
    assert client.post(tamper(ann.unsubscribe), {"List-Unsubscribe": "One-Click"}).status_code == 404
    pixel = client.get(tamper(ann.pixel))
    assert pixel.status_code == 200 and pixel["Content-Type"] == "image/gif"  # never a broken image
    assert recorded() == before


def test_another_messages_id_under_a_valid_signature_is_refused(client, mails):
    """Ann's signature on a value naming Bob's message (or Ann's message with another URL)."""
    before = recorded()
    ann, bob = mails
    for ann_path, bob_path in [(ann.pixel, bob.pixel), (ann.unsubscribe, bob.unsubscribe),
                               (ann.clicks[0], bob.clicks[0])]:
        prefix, _, ann_signature = _split(ann_path)
        _, bob_payload, _ = _split(bob_path)
        spliced = f"{prefix}{bob_payload}:{ann_signature}"
        # The pixel answers its GIF whatever the token (recorded() proves it counted nothing).
        assert client.get(spliced).status_code == (200 if "/t/o/" in spliced else 404), spliced
    assert client.post(
        f"{_split(ann.unsubscribe)[0]}{_split(bob.unsubscribe)[1]}:{_split(ann.unsubscribe)[2]}",
        {"List-Unsubscribe": "One-Click"},
    ).status_code == 404
    assert recorded() == before


def test_a_token_made_without_our_key_is_refused(client, mails, settings):
    before = recorded()
    bob_id = mails[1].message.message_id
    # _value_of encodes exactly as the server does: only the signature is missing from these.
    assert _value_of([bob_id]) == _split(mails[1].unsubscribe)[1]
    assert _value_of([bob_id, LINKS[0]]) == _split(mails[1].clicks[0])[1]
    # The right format, the right salt, another key: what someone who read the code could make.
    for kind, letter, extra in ((tracking.UNSUBSCRIBE, "u", ""), (tracking.CLICK, "c", "https://evil.example/")):
        value = signing.dumps([bob_id, extra] if extra else [bob_id], key="guessed-secret-key",
                              salt=f"sesconsole.tracking.{kind}", compress=True)
        assert client.get(f"/t/{letter}/{letter}.{value}").status_code == 404
        # No signature at all.
        assert client.get(f"/t/{letter}/{letter}.{_value_of([bob_id, extra] if extra else [bob_id])}").status_code == 404
    assert client.post(f"/t/u/u.{_value_of([bob_id])}", {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert recorded() == before


def test_a_token_of_one_kind_is_refused_on_another_path(client, mails):
    before = recorded()
    ann = mails[0]
    open_token = ann.pixel.rsplit("/", 1)[1]
    click_token = ann.clicks[0].rsplit("/", 1)[1]
    assert client.get(f"/t/u/{open_token}").status_code == 404
    assert client.get(f"/t/c/{open_token}").status_code == 404
    assert client.post(f"/t/u/{click_token}", {"List-Unsubscribe": "One-Click"}).status_code == 404
    # The letter swapped too: the salt of each kind differs, so the signature no longer holds.
    assert client.get(f"/t/u/u{open_token[1:]}").status_code == 404
    assert client.get(f"/t/c/c{open_token[1:]}").status_code == 404
    assert recorded() == before


# --- Enumeration ---------------------------------------------------------------------------------


def test_links_cannot_be_enumerated(client, mails):
    before = recorded()
    ann, bob = mails
    # Nothing in a link is a counter: primary keys and MessageIds alone lead nowhere.
    guesses = []
    for message in (ann.message, bob.message):
        guesses += [str(message.pk), message.message_id, f"u.{message.pk}", f"u.{message.message_id}",
                    f"c.{message.pk}", f"o.{message.pk}"]
    guesses += [str(n) for n in range(1, 6)]
    for guess in guesses:
        for letter in "ocu":
            response = client.get(f"/t/{letter}/{guess}")
            assert response.status_code == (200 if letter == "o" else 404), (letter, guess)
        assert client.post(f"/t/u/{guess}", {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert recorded() == before
    # Two messages' links share no readable sequence: their message ids are random, not ordered.
    assert ann.message.message_id != bob.message.message_id
    assert not ann.message.message_id.isdigit()


# --- The click redirect --------------------------------------------------------------------------


def test_the_click_redirect_goes_only_to_urls_that_were_in_the_message(client, mails):
    ann = mails[0]
    for path in ann.clicks:
        for extra in ("", "?url=https://evil.example/", "?next=https://evil.example/", "?redirect=//evil.example"):
            response = client.get(path + extra)
            assert response.status_code == 302
            assert response["Location"] in LINKS, response["Location"]
    targets = {client.get(path)["Location"] for m in mails for path in m.clicks}
    assert targets == set(LINKS)


def test_a_click_token_with_another_url_is_refused(client, mails):
    before = recorded()
    ann = mails[0]
    prefix, _, signature = _split(ann.clicks[0])
    for url in ("https://evil.example/", LINKS[1]):  # not even a URL of the same message
        spliced = f"{prefix}{_value_of([ann.message.message_id, url])}:{signature}"
        assert client.get(spliced).status_code == 404
    assert recorded() == before


def test_a_signed_link_to_a_script_or_data_url_is_never_followed(client, mails):
    """Even a token we signed: only http(s) targets are redirected to."""
    ann = mails[0]
    for url in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil.example/", "ftp://x/"):
        token = tracking.make_token(tracking.CLICK, ann.message.message_id, url)
        assert client.get(f"/t/c/{token}").status_code == 404, url
