"""NUL and the other unusable characters (core.unusable) are InvalidParameterValue naming the
parameter, wherever they are in the body: a value, a nested object, an array, a key, TemplateData's
own JSON, base64 template content, a header. Before, each of the finding's cases was InternalError
on PostgreSQL (which cannot store NUL) and accepted or refused by chance on SQLite."""

import base64
import json

import pytest

from api.tests.signing import call, error_code, post, signed_headers
from batches.models import BatchTask, Receiver, ReceiverList
from batches.tests.batch_fixtures import make_list
from core.clock import platform_today
from sending.models import Message, MessageEvent, Template
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER

sender = send_fixtures.sender
template = send_fixtures.template


def written() -> tuple:
    """Every row a refused call could have written."""
    return tuple(model.objects.count() for model in (Message, MessageEvent, BatchTask, Receiver, ReceiverList, Template))


@pytest.fixture
def customers(account):
    return make_list(account, 2)


def send_email(template, **overrides) -> dict:
    base = {
        "FromEmailAddress": f"Alice News <{SENDER}>", "Destination": ["ann@example.org"],
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps({"name": "Ann", "code": "1"})},
    }
    return {**base, **overrides}


def batch_send(template, customers, **overrides) -> dict:
    base = {
        "FromEmailAddress": f"Alice News <{SENDER}>", "ReceiverId": customers.pk, "TaskType": 1,
        "Subject": "News", "Template": {"TemplateID": template.pk},
    }
    return {**base, **overrides}


# The finding's cases: each was InternalError on PostgreSQL.
FINDING = {
    "SendEmail Subject": ("SendEmail", lambda t, c: send_email(t, Subject="Hi\x00there"), "Subject"),
    "BatchSendEmail Subject": ("BatchSendEmail", lambda t, c: batch_send(t, c, Subject="News\x00"), "Subject"),
    "GetSendEmailStatus MessageId": (
        "GetSendEmailStatus", lambda t, c: {"RequestDate": platform_today().isoformat(), "MessageId": "a\x00b"}, "MessageId",
    ),
    "ListReceivers KeyWord": ("ListReceivers", lambda t, c: {"Offset": 0, "Limit": 10, "KeyWord": "Cust\x00"}, "KeyWord"),
    "ListBlackEmailAddress EmailAddress": (
        "ListBlackEmailAddress", lambda t, c: {"Offset": 0, "Limit": 10, "EmailAddress": "ann\x00@example.org"}, "EmailAddress",
    ),
    "ListReceiverDetails Email": (
        "ListReceiverDetails", lambda t, c: {"ReceiverId": c.pk, "Offset": 0, "Limit": 10, "Email": "user\x00"}, "Email",
    ),
}


@pytest.mark.parametrize("case", FINDING)
def test_a_nul_in_a_parameter_is_invalid_parameter_value_naming_it(api, sender, template, customers, case):
    action, params, name = FINDING[case]
    before = written()

    data = api(action, params(template, customers))

    assert error_code(data) == "InvalidParameterValue", data
    assert f"parameter {name} contains U+0000" in data["Error"]["Message"]
    assert written() == before


def test_a_nul_in_a_template_data_variable_name_is_refused_naming_it(api, sender, template):
    # TemplateData is a JSON string: its \u0000 becomes a NUL only when the service parses it.
    before = written()

    data = api("SendEmail", send_email(template, Template={
        "TemplateID": template.pk, "TemplateData": json.dumps({"na\x00me": "Ann", "code": "1"}),
    }))

    assert error_code(data) == "InvalidParameterValue.InValidTemplateData", data
    assert "na\\u0000me" in data["Error"]["Message"]
    assert "U+0000" in data["Error"]["Message"]
    assert written() == before


@pytest.mark.parametrize("data", [{"name": "A\ud800nn", "code": "1"}, {"name": "Ann", "code": "\x85"}, {"n\ufffeame": "Ann"}])
def test_other_unusable_characters_inside_template_data_are_refused(api, sender, template, data):
    before = written()

    reply = api("SendEmail", send_email(template, Template={"TemplateID": template.pk, "TemplateData": json.dumps(data)}))

    assert error_code(reply) == "InvalidParameterValue.InValidTemplateData", reply
    assert written() == before


def test_a_nul_in_the_template_data_of_a_list_row_refuses_the_call(api, customers):
    before = written()

    data = api("CreateReceiverDetailWithData", {"ReceiverId": customers.pk, "Datas": [
        {"Email": "new@example.org", "TemplateData": json.dumps({"name": "Ann"})},
        {"Email": "cy@example.org", "TemplateData": json.dumps({"na\x00me": "Cy"})},
    ]})

    assert error_code(data) == "InvalidParameterValue.InValidTemplateData", data
    assert "Recipient 2" in data["Error"]["Message"] and "na\\u0000me" in data["Error"]["Message"]
    assert written() == before


def test_a_nul_in_batch_send_email_template_data_is_refused(api, sender, template, customers):
    before = written()

    data = api("BatchSendEmail", batch_send(template, customers, Template={
        "TemplateID": template.pk, "TemplateData": json.dumps({"name": "A\x00"}),
    }))

    assert error_code(data) == "InvalidParameterValue.InValidTemplateData", data
    assert "Template.TemplateData" in data["Error"]["Message"]
    assert written() == before


@pytest.mark.parametrize(("params", "name"), [
    ({"Destination": ["ann@example.org", "bob@example.org\x07"]}, "parameter Destination.1 contains U+0007"),
    ({"Template": {"TemplateID": 1, "TemplateData": "{}", "Extra": {"Deep": ["\x1b[2J"]}}}, "parameter Template.Extra.Deep.0"),
    ({"Template\x00": {}}, "parameter name Template\\u0000 contains U+0000"),
    ({"Template": {"Template\x7fID": 1}}, "parameter name Template.Template\\u007fID contains U+007F"),
])
def test_nested_values_array_items_and_keys_are_checked_too(api, sender, template, params, name):
    before = written()

    data = api("SendEmail", send_email(template, **params))

    assert error_code(data) == "InvalidParameterValue", data
    assert name in data["Error"]["Message"]
    assert written() == before


def test_a_lone_surrogate_is_named_with_its_parameter(api):
    body = b'{"Offset": 0, "Limit": 10, "KeyWord": "x\\ud800"}'

    data = call(api.client, api.secret_id, api.secret_key, "ListReceivers", body=body)

    assert error_code(data) == "InvalidParameterValue"
    assert "parameter KeyWord contains U+D800 (character 2)" in data["Error"]["Message"]


def test_tab_and_line_breaks_are_usable_in_a_template_and_a_subject_still_cannot_break_a_header(api, sender, template):
    created = api("CreateEmailTemplate", {"TemplateName": "Tabs", "TemplateContent": {
        "Html": base64.b64encode(b"<p>a\tb</p>\r\n<p>c</p>").decode(), "Text": base64.b64encode(b"a\tb\r\nc\n").decode(),
    }})
    assert "Error" not in created, created
    assert Template.objects.get(name="Tabs").text == "a\tb\r\nc\n"

    injected = api("SendEmail", send_email(template, Subject="Hi\r\nBcc: victim@example.org"))

    assert error_code(injected) == "InvalidParameterValue.SubjectLengthError"
    assert not Message.objects.exists()


def test_a_control_character_in_base64_template_content_is_refused(api):
    data = api("CreateEmailTemplate", {"TemplateName": "Bell", "TemplateContent": {
        "Text": base64.b64encode(b"Ring\x07 the bell").decode(),
    }})

    assert error_code(data) == "InvalidParameterValue.TemplateContentIsWrong", data
    assert "U+0007" in data["Error"]["Message"]
    assert not Template.objects.filter(name="Bell").exists()


@pytest.mark.parametrize("header", ["Authorization", "X-TC-Action"])
def test_a_nul_in_a_header_the_api_reads_as_a_value_is_refused(api, header):
    body = b"{}"
    headers = signed_headers(api.secret_id, api.secret_key, "ListReceivers", body)
    # The SecretId becomes a query parameter; the action is echoed in messages.
    headers[header] = headers[header].replace("ListReceivers", "ListRec\x00eivers").replace("Credential=", "Credential=\x00")
    response = post(api.client, body, headers)

    data = response.json()["Response"]
    assert error_code(data) == "InvalidParameterValue", data
    assert f"header {header}" in data["Error"]["Message"]


def test_a_nul_at_the_bottom_of_arrays_nested_as_deep_as_json_parses_is_still_found(api):
    # json parses nesting deeper than Python's recursion limit allows frames: the search must not recurse.
    depth = 990
    body = b'{"Offset": 0, "Limit": 10, "X": ' + b"[" * depth + b'"\\u0000"' + b"]" * depth + b"}"

    data = call(api.client, api.secret_id, api.secret_key, "ListReceivers", body=body)

    assert error_code(data) == "InvalidParameterValue", data
    assert "parameter X.0.0" in data["Error"]["Message"]
