"""Bodies and headers the SDK never sends, found by tests/resilience/test_bad_input_api.py: each is a
clear refusal in the envelope, never InternalError, and writes nothing."""

import json

import pytest

from api.tests.signing import error_code, post, signed_headers


def send(api, body: bytes, action="CreateEmailIdentity", extra_headers=None):
    headers = signed_headers(api.secret_id, api.secret_key, action, body)
    headers.update(extra_headers or {})
    response = post(api.client, body, headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()["Response"]


@pytest.mark.parametrize(("body", "name"), [
    (b'{"EmailIdentity": "\\ud800"}', "EmailIdentity"),  # echoed back in the refusal, it could not be encoded
    (b'{"EmailIdentity": "mail.bob.example", "X": ["\\uDFFF"]}', "X.0"),
])
def test_a_lone_surrogate_escape_is_invalid_parameter_value_naming_the_parameter(api, db_state, body, name):
    before = db_state()

    data = send(api, body)

    assert error_code(data) == "InvalidParameterValue"
    assert f"parameter {name} contains U+D" in data["Error"]["Message"]
    assert "surrogates" in data["Error"]["Message"]
    assert db_state() == before


def test_a_surrogate_pair_is_one_character_and_accepted(api):
    # "😀" escaped as the pair \ud83d\ude00 is a real character: only a lone half is refused.
    data = send(api, json.dumps({"Limit": 5, "X": "😀"}).encode(), action="ListEmailIdentities")

    assert "Error" not in data


def test_a_number_of_thousands_of_digits_is_invalid_parameter(api, db_state):
    before = db_state()

    data = send(api, b'{"Limit": ' + b"9" * 5000 + b"}", action="ListEmailIdentities")

    assert error_code(data) == "InvalidParameter"
    assert "digits" in data["Error"]["Message"]
    assert db_state() == before


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(api, constant):
    data = send(api, b'{"Limit": ' + constant + b"}", action="ListEmailIdentities")

    assert error_code(data) == "InvalidParameter"
    assert "not a JSON value" in data["Error"]["Message"]


@pytest.mark.parametrize("timestamp", ["9" * 400, "9" * 5000, "\u00b2\u00b3", "1" * 13])
def test_a_timestamp_that_is_no_clock_reading_is_invalid_parameter_value(api, db_state, timestamp):
    before = db_state()

    data = send(api, b'{"EmailIdentity": "mail.bob.example"}', extra_headers={"X-TC-Timestamp": timestamp})

    assert error_code(data) == "InvalidParameterValue"
    assert "X-TC-Timestamp" in data["Error"]["Message"]
    assert db_state() == before


@pytest.mark.parametrize("action", [
    "ListEmailIdentities", "ListEmailTemplates", "ListReceivers", "ListBlackEmailAddress", "ListSendTasks",
])
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_an_offset_past_64_bits_is_invalid_parameter_value(api, action, value):
    # PostgreSQL's OFFSET is a bigint: the number used to overflow in the driver (InternalError).
    data = send(api, json.dumps({"Offset": value}).encode(), action=action)

    assert error_code(data) == "InvalidParameterValue"
    assert "Offset" in data["Error"]["Message"]


def test_an_id_past_64_bits_is_invalid_parameter_value(api):
    data = send(api, json.dumps({"ReceiverId": 2**63}).encode(), action="ListSendTasks")

    assert error_code(data) == "InvalidParameterValue"
    assert "ReceiverId" in data["Error"]["Message"]


def test_the_largest_64_bit_offset_is_an_empty_page(api):
    data = send(api, json.dumps({"Offset": 2**63 - 1 - 100}).encode(), action="ListEmailTemplates")

    assert "Error" not in data
    assert data["TemplatesMetadata"] == []
