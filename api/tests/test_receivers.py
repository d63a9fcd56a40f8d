"""Recipient lists through signed requests: wire shapes, limits, tenant scoping."""

import io
import json

from api.tests.signing import error_code
from batches.lists import importer
from batches.lists import services as list_services
from batches.models import Receiver, ReceiverList


def test_a_list_is_created_filled_listed_and_deleted(api):
    created = api("CreateReceiver", {"ReceiversName": "Newsletter", "Desc": "monthly"})
    receiver_id = created["ReceiverId"]

    listed = api("ListReceivers", {"Offset": 0, "Limit": 10})
    assert listed["TotalCount"] == 1
    [row] = listed["Data"]
    assert (row["ReceiverId"], row["ReceiversName"], row["Desc"], row["ReceiversStatus"], row["Count"],
            row["InvalidCount"]) == (receiver_id, "Newsletter", "monthly", 1, 0, 0)
    assert len(row["CreateTime"]) == 19

    added = api("CreateReceiverDetail", {"ReceiverId": receiver_id, "Emails": ["a@example.com", "A@example.com", "", "b@example.com"]})
    assert added == {**added, "TotalCount": 4, "ValidCount": 2, "RepeatCount": 1, "EmptyEmailCount": 1, "TooLongCount": 0}

    with_data = api("CreateReceiverDetailWithData", {"ReceiverId": receiver_id, "Datas": [
        {"Email": "c@example.com", "TemplateData": json.dumps({"name": "Cy"})},
        {"Email": "a@example.com", "TemplateData": "{}"},
    ]})
    assert (with_data["ValidCount"], with_data["RepeatCount"]) == (1, 1)

    [row] = api("ListReceivers", {"Offset": 0, "Limit": 10, "Status": 3})["Data"]
    assert (row["Count"], row["ReceiversStatus"]) == (3, 3)

    details = api("ListReceiverDetails", {"ReceiverId": receiver_id, "Offset": 0, "Limit": 10})
    assert details["TotalCount"] == 3
    assert [(d["Email"], d["Status"]) for d in details["Data"]] == [
        ("a@example.com", 1), ("b@example.com", 1), ("c@example.com", 1),
    ]
    assert json.loads(details["Data"][2]["TemplateData"]) == {"name": "Cy"}
    found = api("ListReceiverDetails", {"ReceiverId": receiver_id, "Offset": 0, "Limit": 10, "Email": "c@"})
    assert [d["Email"] for d in found["Data"]] == ["c@example.com"]

    assert "Error" not in api("DeleteReceiver", {"ReceiverId": receiver_id})
    assert api("ListReceivers", {"Offset": 0, "Limit": 10})["TotalCount"] == 0
    assert Receiver.objects.count() == 0


def test_refused_upload_rows_are_listed_as_invalid_details(api, account):
    rl = list_services.create_list(account, "Upload")
    importer.import_csv(rl, io.BytesIO(b"email\nann@example.com\nnope\n"))
    details = api("ListReceiverDetails", {"ReceiverId": rl.pk, "Offset": 0, "Limit": 10})
    assert (details["TotalCount"], details["ValidCount"], details["InvalidCount"]) == (2, 1, 1)
    invalid = api("ListReceiverDetails", {"ReceiverId": rl.pk, "Offset": 0, "Limit": 10, "Status": 2})["Data"]
    assert [(d["Email"], d["Status"]) for d in invalid] == [("nope", 2)]
    assert invalid[0]["Reason"].startswith("line 3:")
    [row] = api("ListReceivers", {"Offset": 0, "Limit": 10})["Data"]
    assert (row["Count"], row["InvalidCount"]) == (1, 1)


def test_a_bad_address_refuses_the_whole_call(api, account):
    rl = list_services.create_list(account, "L")
    reply = api("CreateReceiverDetail", {"ReceiverId": rl.pk, "Emails": ["ok@example.com", "not an address"]})
    assert error_code(reply) == "InvalidParameterValue.ReceiverEmailInvalid"
    assert "Recipient 2" in reply["Error"]["Message"]
    assert Receiver.objects.count() == 0


def test_html_in_template_data_is_refused(api, account):
    rl = list_services.create_list(account, "L")
    reply = api("CreateReceiverDetailWithData", {"ReceiverId": rl.pk, "Datas": [
        {"Email": "ok@example.com", "TemplateData": json.dumps({"name": "<script>x</script>"})},
    ]})
    assert error_code(reply) == "InvalidParameterValue.InValidTemplateData"
    reply = api("CreateReceiverDetailWithData", {"ReceiverId": rl.pk, "Datas": [
        {"Email": "ok@example.com", "TemplateData": "[1, 2]"},
    ]})
    assert error_code(reply) == "InvalidParameterValue.TemplateDataError"
    assert Receiver.objects.count() == 0


def test_more_than_20000_emails_in_one_call_are_refused(api, account):
    rl = list_services.create_list(account, "L")
    emails = [f"r{i}@example.com" for i in range(20_001)]
    reply = api("CreateReceiverDetail", {"ReceiverId": rl.pk, "Emails": emails})
    assert error_code(reply) == "LimitExceeded.ReceiverDetailRequestLimit"
    assert "at most 20000" in reply["Error"]["Message"]
    assert Receiver.objects.count() == 0


def test_missing_and_bad_parameters_get_the_sdk_codes(api, account):
    assert error_code(api("CreateReceiver", {})) == "MissingParameter"
    assert error_code(api("CreateReceiverDetail", {"Emails": ["a@example.com"]})) == "MissingParameter.ReceiverIdNecessary"
    rl = list_services.create_list(account, "L")
    assert error_code(api("CreateReceiverDetail", {"ReceiverId": rl.pk, "Emails": []})) == "MissingParameter.EmailsNecessary"
    assert error_code(api("ListReceivers", {"Limit": 101})) == "InvalidParameterValue"
    assert error_code(api("CreateReceiver", {"ReceiversName": "L"})) == "InvalidParameterValue.RepeatReceiverName"
    assert error_code(api("CreateReceiver", {"ReceiversName": "M", "Desc": "d" * 301})) == "InvalidParameterValue.ReceiverDescIllegal"
    assert ReceiverList.objects.count() == 1


def test_another_accounts_list_does_not_exist_for_the_caller(api, other_api, account):
    rl = list_services.create_list(account, "Private")
    importer.add_receivers(rl, [("ann@example.com", {})])
    for action, params in [
        ("CreateReceiverDetail", {"ReceiverId": rl.pk, "Emails": ["x@example.com"]}),
        ("CreateReceiverDetailWithData", {"ReceiverId": rl.pk, "Datas": [{"Email": "x@example.com"}]}),
        ("ListReceiverDetails", {"ReceiverId": rl.pk, "Offset": 0, "Limit": 10}),
        ("DeleteReceiver", {"ReceiverId": rl.pk}),
    ]:
        reply = other_api(action, params)
        assert error_code(reply) == "OperationDenied.ReceiverNotExist", action
        assert "ann@example.com" not in json.dumps(reply)
    assert other_api("ListReceivers", {"Offset": 0, "Limit": 10})["TotalCount"] == 0
    assert list(Receiver.objects.values_list("email", flat=True)) == ["ann@example.com"]
    assert error_code(api("DeleteReceiver", {"ReceiverId": 999999})) == "OperationDenied.ReceiverNotExist"
