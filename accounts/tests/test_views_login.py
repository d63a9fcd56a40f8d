"""Signing in and out, and who may see the console."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_it_signs_a_member_in_and_lands_on_the_dashboard(client, owner):
    response = client.post("/login/", {"username": "alice@example.com", "password": "correct horse 42"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert b"Sender domains" in response.content
    assert b"Alice Co" in response.content


def test_it_shows_an_error_for_a_wrong_password(client, owner):
    response = client.post("/login/", {"username": "alice@example.com", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    assert "_auth_user_id" not in client.session


def test_it_sends_an_anonymous_visitor_to_the_login_page(client):
    for url in ["/domains/", "/api-keys/", "/stats/", "/domains/1/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_it_signs_out_with_a_post(client, owner):
    client.force_login(owner)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/domains/").status_code == 302


def test_it_tells_staff_without_a_membership_they_have_no_account(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/domains/")
    assert response.status_code == 403
    assert b"You have no account here" in response.content
    assert reverse("admin:index").encode() in response.content


def test_it_tells_a_plain_user_without_a_membership_to_ask_for_one(client, django_user_model):
    user = django_user_model.objects.create_user("loner@example.com", "loner@example.com", "pw pw pw 42")
    client.force_login(user)
    response = client.get("/api-keys/")
    assert response.status_code == 403
    assert b"You have no account here" in response.content
    assert reverse("admin:index").encode() not in response.content
