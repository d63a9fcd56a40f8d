"""The console refuses NUL and the other unusable characters (core.unusable) in a query string, a
form field or the page address with one 400 page that names the field and the character, in the
console's look and language, before any view reads them and writes anything. The machine endpoints
answer in their own formats. Before, `/stats/domains/?domain=a%00b` was a 500 on PostgreSQL."""

from __future__ import annotations

import pytest

from sending import services
from sending.models import SenderAddress, Template
from sending.tests.inbound_fixtures import make_message
from sending.tracking import OPEN, make_token
from tests.test_i18n import compiled_catalogs  # noqa: F401  (fixture: the catalogs the pages use)

CLEAN_HTML = '<p>Hello {{name}}</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>'


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def assert_refusal_page(response, field: str, char: str, *, says: str = "{field} contains {char}") -> str:
    assert response.status_code == 400
    page = response.content.decode()
    assert says.format(field=f"<strong>{field}</strong>", char=char) in page
    assert 'class="nav"' in page  # the console's page, with its navigation
    return page


def test_a_nul_in_the_domain_search_is_a_400_page_naming_the_field(signed_in, verified_domain):
    response = signed_in.get("/stats/domains/", {"domain": "a\x00b"})

    assert_refusal_page(response, "domain", "U+0000")


@pytest.mark.parametrize(("url", "params", "field", "char"), [
    ("/stats/", {"start": "2026-01-01", "domain": "mail\x1b.example"}, "domain", "U+001B"),
    ("/log/", {"q": "ann\x7f"}, "q", "U+007F"),
    ("/blacklist/", {"q": "\x85"}, "q", "U+0085"),
    ("/lists/", {"page": "\ufffe"}, "page", "U+FFFE"),
    ("/domains/", {"x\x00y": "1"}, "x\\u0000y", "U+0000"),
])
def test_every_unusable_kind_in_a_query_string_is_refused(signed_in, url, params, field, char):
    assert_refusal_page(signed_in.get(url, params), field, char)


def test_a_form_with_a_control_character_is_refused_and_nothing_is_created(signed_in):
    response = signed_in.post("/templates/new/", {
        "name": "Spring sale", "subject": "Spring is here", "html": CLEAN_HTML, "text": "Ring\x07",
    })

    assert_refusal_page(response, "text", "U+0007")
    assert not Template.objects.exists()


def test_a_form_field_name_with_a_nul_is_refused(signed_in, verified_domain):
    response = signed_in.post("/addresses/", {"email": "news@mail.alice.example", "display_name": "News", "a\x00": "x"})

    assert_refusal_page(response, "a\\u0000", "U+0000")
    assert not SenderAddress.objects.exists()


def test_tab_and_line_breaks_in_a_form_are_usable(signed_in):
    response = signed_in.post("/templates/new/", {
        "name": "Spring sale", "subject": "Spring is here", "html": CLEAN_HTML, "text": "Hello\tthere\r\nbye\n",
    })

    assert response.status_code == 302
    assert Template.objects.get().text == "Hello\tthere\r\nbye"


def test_a_nul_in_a_message_id_of_the_address_is_refused(signed_in):
    response = signed_in.get("/log/a%00b/")

    assert_refusal_page(response, "the page address", "U+0000")


def test_the_page_speaks_the_readers_language(signed_in):
    response = signed_in.get("/stats/domains/", {"domain": "a\x00b"}, headers={"Accept-Language": "ja"})

    page = assert_refusal_page(response, "domain", "U+0000", says="{field} に {char} が含まれています")
    assert "使用できない文字が含まれています" in page


def test_a_signed_out_visitor_gets_the_same_refusal(client):
    response = client.get("/login/", {"next": "/\x00"})

    assert response.status_code == 400
    assert "<strong>next</strong> contains U+0000" in response.content.decode()


def test_the_machine_endpoints_answer_in_their_own_format(client, verified_domain):
    message = make_message(verified_domain, "reader@example.org")
    token = make_token(OPEN, message.message_id)

    pixel = client.get(f"/t/o/{token}", {"x": "\x00"})
    api = client.post("/?x=%00", data=b"{}", content_type="application/json")

    assert (pixel.status_code, pixel["Content-Type"]) == (200, "image/gif")
    assert api.status_code == 200 and "Error" in api.json()["Response"]


def test_staff_search_in_the_admin_is_refused_instead_of_failing(client, staff_user):
    client.force_login(staff_user)

    response = client.get("/admin/sending/message/", {"q": "a\x00b"})

    assert response.status_code == 400
    assert "<strong>q</strong> contains U+0000" in response.content.decode()


def test_a_service_still_refuses_an_unusable_character_in_a_header_value(account, verified_domain):
    # The services' own checks of one-line values stay, with the same definition: a caller that is
    # neither the API nor the console (the seed, the admin) cannot put one in a From header either.
    with pytest.raises(services.SendError):
        services.create_sender_address(account, "news@mail.alice.example", "Al\x85ice")
