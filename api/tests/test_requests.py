"""The request envelope: versions, actions, bodies and parameters; every refusal writes nothing."""

import json

import pytest
from django.urls import reverse

from api.registry import ACTIONS, Action
from api.tests.signing import error_code, post, signed_headers
from domains.models import SenderDomain


def send_raw(api, body: bytes, action="CreateEmailIdentity", **sign):
    return post(api.client, body, signed_headers(api.secret_id, api.secret_key, action, body, **sign))


def test_get_of_the_root_sends_a_browser_to_the_console(client, settings):
    settings.LOGIN_REDIRECT_URL = "admin:index"

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_other_methods_are_not_allowed(client):
    assert client.put("/", data=b"{}", content_type="application/json").status_code == 405


def test_every_answer_is_http_200_with_exactly_the_json_content_type(api):
    ok = send_raw(api, b"{}", action="ListEmailIdentities")
    refused = send_raw(api, b"{}", action="NoSuchThing")

    for response in (ok, refused):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.json()["Response"]["RequestId"]
    assert ok.json()["Response"]["RequestId"] != refused.json()["Response"]["RequestId"]


def test_it_rejects_an_unknown_action(api, db_state):
    before = db_state()

    data = api("DescribeInstances")

    assert error_code(data) == "InvalidAction"
    assert "DescribeInstances" in data["Error"]["Message"]
    assert db_state() == before


def test_it_rejects_a_request_without_an_action(api, db_state):
    before = db_state()

    data = api("")

    assert error_code(data) == "MissingParameter"
    assert "X-TC-Action" in data["Error"]["Message"]
    assert db_state() == before


@pytest.mark.parametrize("version", ["2019-01-01", ""])
def test_it_rejects_another_api_version(api, db_state, version):
    before = db_state()

    data = api("CreateEmailIdentity", {"EmailIdentity": "mail.alice.example"}, version=version)

    assert error_code(data) == "NoSuchVersion"
    assert "2020-10-02" in data["Error"]["Message"]
    assert db_state() == before


def test_it_names_a_missing_parameter(api, db_state):
    before = db_state()

    data = api("CreateEmailIdentity", {"DKIMOption": 0})

    assert error_code(data) == "MissingParameter"
    assert "EmailIdentity" in data["Error"]["Message"]
    assert db_state() == before


def test_it_treats_an_empty_string_as_missing(api, db_state):
    before = db_state()

    data = api("CreateEmailIdentity", {"EmailIdentity": "  "})

    assert error_code(data) == "MissingParameter"
    assert db_state() == before


@pytest.mark.parametrize("params, name", [
    ({"EmailIdentity": 123}, "EmailIdentity"),
    ({"EmailIdentity": ["mail.alice.example"]}, "EmailIdentity"),
    ({"EmailIdentity": "mail.alice.example", "DKIMOption": "1"}, "DKIMOption"),
    ({"EmailIdentity": "mail.alice.example", "DKIMOption": True}, "DKIMOption"),
    ({"EmailIdentity": "mail.alice.example", "DKIMOption": 1.5}, "DKIMOption"),
])
def test_it_rejects_a_parameter_of_the_wrong_type(api, db_state, params, name):
    before = db_state()

    data = api("CreateEmailIdentity", params)

    assert error_code(data) == "InvalidParameter"
    assert name in data["Error"]["Message"]
    assert db_state() == before


def test_it_rejects_a_value_out_of_range(api, db_state):
    before = db_state()

    data = api("CreateEmailIdentity", {"EmailIdentity": "mail.alice.example", "DKIMOption": 7})

    assert error_code(data) == "InvalidParameterValue"
    assert "DKIMOption" in data["Error"]["Message"]
    assert db_state() == before


@pytest.mark.parametrize("body, words", [
    (b'{"EmailIdentity": "mail.alice.example"', "not valid JSON"),
    (b"  ", "not valid JSON"),
    (b"EmailIdentity=mail.alice.example", "not valid JSON"),
    (b'["mail.alice.example"]', "JSON object"),
    (b'"mail.alice.example"', "JSON object"),
    (b"null", "JSON object"),
    (b'{"EmailIdentity": "mail.\xff.example"}', "UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested"),
])
def test_it_rejects_a_body_that_is_not_a_json_object(api, db_state, body, words):
    before = db_state()

    data = api("CreateEmailIdentity", body=body)

    assert error_code(data) == "InvalidParameter"
    assert words in data["Error"]["Message"]
    assert db_state() == before


def test_it_refuses_an_oversized_body_before_reading_it(api, db_state, settings):
    settings.SES_API_MAX_BODY_BYTES = 2048
    body = json.dumps({"EmailIdentity": "mail.alice.example", "Padding": "x" * 4096}).encode()
    before = db_state()

    data = send_raw(api, body).json()["Response"]

    assert error_code(data) == "RequestSizeLimitExceeded"
    assert "2048 bytes" in data["Error"]["Message"]
    assert db_state() == before


def test_a_body_above_djangos_form_limit_but_within_the_api_limit_is_accepted(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.SES_API_MAX_BODY_BYTES = 64 * 1024
    body = json.dumps({"EmailIdentity": "mail.alice.example", "Padding": "x" * 8192}).encode()

    data = send_raw(api, body).json()["Response"]

    assert "Error" not in data
    assert SenderDomain.objects.filter(name="mail.alice.example").exists()


@pytest.fixture
def exploding_action(monkeypatch):
    def explode(account, params):
        raise RuntimeError("secret internals: /srv/app/settings.py line 12")

    monkeypatch.setitem(ACTIONS, "Explode", Action("Explode", explode, ()))


def test_an_unexpected_failure_is_an_internal_error_without_details(api, exploding_action, caplog):
    data = api("Explode")

    assert error_code(data) == "InternalError"
    assert data["RequestId"] in data["Error"]["Message"]
    assert "secret internals" not in json.dumps(data)
    assert "secret internals" in caplog.text
