"""A session cookie that is not a session key Django makes (32 of a-z0-9) is no session: nobody is
signed in, nothing is written, no server error — even with a NUL, which PostgreSQL refuses in text."""

import pytest
from django.conf import settings
from django.test import Client

from accounts.backends import SessionStore
from accounts.models import Session

pytestmark = pytest.mark.django_db

BAD_KEYS = ["a" * 15 + "\x00" + "b" * 16, "\x00", "a" * 32 + "\x00", "A" * 32, "a" * 31 + "-", "a" * 33]


@pytest.mark.parametrize("cookie", BAD_KEYS)
def test_a_cookie_not_shaped_as_a_session_key_signs_nobody_in(client, owner, cookie):
    client.force_login(owner)
    stranger = Client(raise_request_exception=False)
    stranger.cookies[settings.SESSION_COOKIE_NAME] = cookie
    for path in ("/stats/", "/login/"):
        response = stranger.get(path)
        assert response.status_code in (200, 302), (path, response.status_code)
    response = stranger.get("/stats/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    response = stranger.post("/logout/")
    assert response.status_code < 500
    assert list(Session.objects.values_list("user_id", flat=True)) == [owner.pk]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_the_store_treats_a_badly_shaped_key_as_no_session(owner, key):
    store = SessionStore(key)
    assert store.load() == {}
    assert store.session_key is None
    assert not store.exists(key)
    store.delete(key)  # nothing to delete, no error
    assert Session.objects.count() == 0


def test_a_session_key_the_store_made_still_loads(owner):
    store = SessionStore()
    store["note"] = "kept"
    store.save()
    assert len(store.session_key) == 32
    assert SessionStore(store.session_key).load() == {"note": "kept"}
