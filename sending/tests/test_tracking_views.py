"""The links inside our mail: open pixel, click redirect and unsubscribe (SPEC §4.2, RFC 8058)."""

import pytest

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
