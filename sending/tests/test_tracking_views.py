"""The links inside our mail: open pixel, click redirect and unsubscribe (SPEC §4.2, RFC 8058)."""

import datetime as dt

import pytest
import time_machine
from django.core import signing
from django.utils import timezone

from domains.models import DomainDay
from sending import tracking
from sending.models import Suppression
from sending.tests.inbound_fixtures import counters, make_message, written

LINK = "https://shop.example.com/orders/17?utm=mail"


@pytest.fixture
def message(verified_domain):
    return make_message(verified_domain, "reader@example.org")


def path_of(url: str) -> str:
    return "/t/" + url.split("/t/", 1)[1]


def tampered(url: str) -> str:
    # Change one character of the signature at the end.
    return url[:-1] + ("A" if url[-1] != "A" else "B")


# --- Open pixel ----------------------------------------------------------------------------------


def test_the_pixel_records_an_open_and_answers_an_uncacheable_gif(client, message, verified_domain):
    response = client.get(path_of(tracking.open_url(message)))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    message.refresh_from_db()
    assert message.opened_at is not None
    assert counters(verified_domain)["opened"] == 1


def test_opening_again_counts_once(client, message, verified_domain):
    url = path_of(tracking.open_url(message))
    client.get(url)
    before = counters(verified_domain), written()

    client.get(url)

    assert (counters(verified_domain), written()) == before


@pytest.mark.parametrize("bad", ["nonsense", "o.garbage", "o."])
def test_a_forged_pixel_still_answers_the_gif_and_records_nothing(client, message, verified_domain, bad):
    before = counters(verified_domain), written()

    response = client.get(f"/t/o/{bad}")

    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert (counters(verified_domain), written()) == before


def test_a_tampered_pixel_records_nothing(client, message, verified_domain):
    before = counters(verified_domain), written()

    client.get(tampered(path_of(tracking.open_url(message))))

    assert (counters(verified_domain), written()) == before


# --- Click redirect ------------------------------------------------------------------------------


def test_a_click_redirects_to_the_link_in_the_mail_and_counts_open_and_click(client, message, verified_domain):
    response = client.get(path_of(tracking.click_url(message, LINK)))

    assert response.status_code == 302
    assert response["Location"] == LINK
    message.refresh_from_db()
    assert message.clicked_at is not None and message.opened_at is not None
    assert (counters(verified_domain)["clicked"], counters(verified_domain)["opened"]) == (1, 1)
    assert message.events.get(kind="clicked").detail["url"] == LINK


def test_a_click_after_the_pixel_counts_the_open_once(client, message, verified_domain):
    client.get(path_of(tracking.open_url(message)))
    client.get(path_of(tracking.click_url(message, LINK)))

    assert counters(verified_domain)["opened"] == 1


def test_the_redirect_never_follows_a_url_from_the_query_string(client, message):
    response = client.get(path_of(tracking.click_url(message, LINK)) + "?url=https://evil.example/&next=//evil.example")

    assert response["Location"] == LINK


def test_a_forged_or_tampered_click_is_not_found_and_records_nothing(client, message, verified_domain):
    before = counters(verified_domain), written()
    forged = tracking.make_token(tracking.CLICK, message.message_id, LINK).replace(".", ".x", 1)

    assert client.get(tampered(path_of(tracking.click_url(message, LINK)))).status_code == 404
    assert client.get(f"/t/c/{forged}").status_code == 404
    assert client.get("/t/c/c.https%3A%2F%2Fevil.example").status_code == 404
    assert (counters(verified_domain), written()) == before


def test_a_token_of_another_kind_does_not_work_on_the_click_path(client, message, verified_domain):
    open_token = tracking.make_token(tracking.OPEN, message.message_id)
    before = written()

    assert client.get(f"/t/c/{open_token}").status_code == 404
    assert written() == before


def test_a_click_token_for_a_message_that_no_longer_exists_is_not_found(client, message):
    url = path_of(tracking.click_url(message, LINK))
    message.delete()

    assert client.get(url).status_code == 404


# --- Expiry (SES_CLICK_TOKEN_DAYS) -----------------------------------------------------------------

SENT = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
DAYS_90 = dt.timedelta(days=90)


@pytest.fixture
def old_mail(verified_domain):
    """A message made at SENT, with the links its mail carried (signed at SENT too)."""
    with time_machine.travel(SENT, tick=False):
        message = make_message(verified_domain, "reader@example.org")
        links = {
            "click": path_of(tracking.click_url(message, LINK)),
            "open": path_of(tracking.open_url(message)),
            "unsubscribe": path_of(tracking.unsubscribe_url(message)),
        }
    return message, links


def send_day_counters(message) -> dict[str, int]:
    row = DomainDay.objects.get(domain=message.domain, day=message.send_day)
    return {name: getattr(row, name) for name in DomainDay.COUNTERS}


def test_a_click_one_second_before_the_link_expires_still_redirects_and_counts(client, old_mail):
    message, links = old_mail
    with time_machine.travel(SENT + DAYS_90 - dt.timedelta(seconds=1), tick=False):
        response = client.get(links["click"])

    assert response.status_code == 302 and response["Location"] == LINK
    assert send_day_counters(message)["clicked"] == 1


def test_at_exactly_90_days_the_click_page_says_expired_shows_the_destination_and_does_not_redirect(client, old_mail):
    message, links = old_mail
    before = send_day_counters(message), written()

    with time_machine.travel(SENT + DAYS_90, tick=False):
        response = client.get(links["click"])

    assert response.status_code == 410
    assert "Location" not in response
    body = response.content.decode()
    assert "This link has expired" in body
    assert f"<code class=\"wrap\">{LINK.replace('&', '&amp;')}</code>" in body  # the destination as text
    assert f'<a href="{LINK}" rel="noopener noreferrer nofollow">' in body  # and as a link to choose
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    # An expired click is no engagement with the send: no click, no open, no event.
    assert (send_day_counters(message), written()) == before
    message.refresh_from_db()
    assert message.clicked_at is None and message.opened_at is None


def test_an_expired_link_cannot_be_used_to_pump_the_counters(client, old_mail):
    message, links = old_mail
    before = send_day_counters(message), written()

    with time_machine.travel(SENT + DAYS_90 * 2, tick=False):
        for _ in range(5):
            assert client.get(links["click"]).status_code == 410
            assert client.get(links["open"]).status_code == 200  # the pixel still never shows broken

    assert (send_day_counters(message), written()) == before


def test_the_pixel_expires_with_the_click(client, old_mail):
    message, links = old_mail
    with time_machine.travel(SENT + DAYS_90, tick=False):
        response = client.get(links["open"])

    assert response["Content-Type"] == "image/gif"
    message.refresh_from_db()
    assert message.opened_at is None


def test_the_setting_sets_the_life_of_a_click_link(client, old_mail, settings):
    settings.SES_CLICK_TOKEN_DAYS = 7
    message, links = old_mail
    with time_machine.travel(SENT + dt.timedelta(days=7) - dt.timedelta(seconds=1), tick=False):
        assert client.get(links["click"]).status_code == 302
    with time_machine.travel(SENT + dt.timedelta(days=7), tick=False):
        assert client.get(links["click"]).status_code == 410


def test_one_click_unsubscribe_from_a_years_old_mail_still_works(old_mail):
    from django.test import Client

    message, links = old_mail
    with time_machine.travel(SENT + dt.timedelta(days=3 * 365), tick=False):
        response = Client(enforce_csrf_checks=True).post(links["unsubscribe"], {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    message.refresh_from_db()
    assert message.unsubscribed_at is not None


def test_a_link_signed_later_for_an_old_message_expires_with_the_message(client, old_mail):
    """A retry builds the mail (and signs its links) again: the clock still starts at the message."""
    message, _ = old_mail
    with time_machine.travel(SENT + dt.timedelta(days=30), tick=False):
        resigned = path_of(tracking.click_url(message, LINK))

    with time_machine.travel(SENT + DAYS_90, tick=False):
        assert client.get(resigned).status_code == 410


def test_a_link_without_a_signed_time_is_not_a_link(client, message):
    # A value signed without a time (django.core.signing.Signer) never passes for one of ours.
    value = signing.Signer(salt="sesconsole.tracking.click").sign_object([message.message_id, LINK], compress=True)

    assert client.get(f"/t/c/c.{value}").status_code == 404


def test_the_expired_page_escapes_the_destination(client, verified_domain):
    with time_machine.travel(SENT, tick=False):
        message = make_message(verified_domain, "reader@example.org")
        url = path_of(tracking.click_url(message, 'https://x.example/"><script>alert(1)</script>'))

    with time_machine.travel(SENT + DAYS_90, tick=False):
        response = client.get(url)

    assert response.status_code == 410
    assert b"<script>alert(1)" not in response.content
    assert b"&lt;script&gt;" in response.content


def test_tokens_made_now_are_valid_for_the_configured_days(message, settings):
    token = tracking.make_token(tracking.CLICK, message.message_id, LINK)

    assert tracking.valid_until(message, token) == (
        min(message.created_at, tracking.signed_at(token)) + dt.timedelta(days=settings.SES_CLICK_TOKEN_DAYS)
    )
    assert abs(tracking.signed_at(token) - timezone.now()) < dt.timedelta(seconds=2)


# --- Unsubscribe ---------------------------------------------------------------------------------


def test_get_shows_a_confirmation_and_changes_nothing(client, message, verified_domain):
    before = counters(verified_domain), written()

    response = client.get(path_of(tracking.unsubscribe_url(message)))

    assert response.status_code == 200
    assert b"reader@example.org" in response.content
    assert b'name="List-Unsubscribe" value="One-Click"' in response.content
    assert (counters(verified_domain), written()) == before
    message.refresh_from_db()
    assert message.unsubscribed_at is None


def test_a_one_click_post_unsubscribes_without_a_csrf_token(message, verified_domain):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)

    response = client.post(path_of(tracking.unsubscribe_url(message)), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    message.refresh_from_db()
    assert message.unsubscribed_at is not None
    assert counters(verified_domain)["unsubscribed"] == 1
    assert Suppression.objects.filter(
        account=verified_domain.account, email="reader@example.org", reason=Suppression.UNSUBSCRIBED
    ).exists()


def test_unsubscribing_twice_counts_once(client, message, verified_domain):
    url = path_of(tracking.unsubscribe_url(message))
    client.post(url, {"List-Unsubscribe": "One-Click"})
    before = counters(verified_domain), written()

    response = client.post(url, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert (counters(verified_domain), written()) == before


def test_a_post_without_the_one_click_body_unsubscribes_nobody(client, message, verified_domain):
    before = counters(verified_domain), written()

    response = client.post(path_of(tracking.unsubscribe_url(message)), {"something": "else"})

    assert response.status_code == 400
    assert (counters(verified_domain), written()) == before


def test_a_forged_unsubscribe_is_not_found_and_records_nothing(client, message, verified_domain):
    before = counters(verified_domain), written()
    open_token = tracking.make_token(tracking.OPEN, message.message_id)

    assert client.post(tampered(path_of(tracking.unsubscribe_url(message))), {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.post(f"/t/u/{open_token}", {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.get("/t/u/u.forged").status_code == 404
    assert (counters(verified_domain), written()) == before
