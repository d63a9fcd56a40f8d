"""GetSendEmailStatus: the SDK's codes per message, scoped to the caller's account."""

import json

from django.utils import timezone

from api.tests.signing import error_code
from core.clock import platform_today
from sending.models import Message
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER

sender = send_fixtures.sender
template = send_fixtures.template


def send(api, template, to):
    data = api("SendEmail", {
        "FromEmailAddress": SENDER, "Destination": to,
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps({"name": "A", "code": "1"})},
    })
    assert "Error" not in data, data
    return data["MessageId"]


def test_each_status_maps_to_the_sdks_deliver_status(api, sender, template):
    send(api, template, ["q@example.org", "d@example.org", "b@example.org", "x@example.org", "w@example.org"])
    now = timezone.now()
    Message.objects.filter(recipient="d@example.org").update(
        status=Message.DELIVERED, finished_at=now, smtp_reply="250 2.0.0 Ok", opened_at=now, clicked_at=now)
    Message.objects.filter(recipient="b@example.org").update(status=Message.BOUNCED, smtp_reply="550 5.1.1 unknown")
    Message.objects.filter(recipient="x@example.org").update(status=Message.DROPPED, complained_at=now)
    Message.objects.filter(recipient="w@example.org").update(status=Message.DEFERRED, smtp_reply="451 4.7.1 later",
                                                              unsubscribed_at=now)

    data = api("GetSendEmailStatus", {"RequestDate": platform_today().isoformat(), "Limit": 100, "Offset": 0})

    rows = {r["ToEmailAddress"]: r for r in data["EmailStatusList"]}
    assert {to: (r["SendStatus"], r["DeliverStatus"]) for to, r in rows.items()} == {
        "q@example.org": (0, 0), "d@example.org": (0, 1), "b@example.org": (0, 3), "x@example.org": (0, 2),
        "w@example.org": (0, 8),
    }
    delivered = rows["d@example.org"]
    assert (delivered["DeliverMessage"], delivered["DeliverTime"], delivered["UserOpened"], delivered["UserClicked"]) == (
        "250 2.0.0 Ok", int(now.timestamp()), True, True)
    assert rows["x@example.org"]["UserComplainted"] is True
    assert rows["w@example.org"]["UserUnsubscribed"] is True
    assert rows["q@example.org"]["FromEmailAddress"] == SENDER
    assert rows["q@example.org"]["DeliverTime"] == 0


def test_the_message_id_of_a_call_finds_every_recipient_of_that_call(api, sender, template):
    first = send(api, template, ["a@example.org", "b@example.org"])
    send(api, template, ["c@example.org"])

    data = api("GetSendEmailStatus", {"RequestDate": platform_today().isoformat(), "MessageId": first})

    assert sorted(r["ToEmailAddress"] for r in data["EmailStatusList"]) == ["a@example.org", "b@example.org"]


def test_it_filters_by_recipient_and_pages(api, sender, template):
    send(api, template, ["a@example.org", "b@example.org", "c@example.org"])
    today = platform_today().isoformat()

    one = api("GetSendEmailStatus", {"RequestDate": today, "ToEmailAddress": "B@example.org"})
    page = api("GetSendEmailStatus", {"RequestDate": today, "Offset": 1, "Limit": 1})

    assert [r["ToEmailAddress"] for r in one["EmailStatusList"]] == ["b@example.org"]
    assert [r["ToEmailAddress"] for r in page["EmailStatusList"]] == ["b@example.org"]


def test_another_tenant_sees_none_of_our_messages(api, other_api, sender, template):
    message_id = send(api, template, ["a@example.org"])
    data = other_api("GetSendEmailStatus", {"RequestDate": platform_today().isoformat(), "MessageId": message_id})
    assert data["EmailStatusList"] == []


def test_bad_queries_are_refused(api):
    assert error_code(api("GetSendEmailStatus", {})) == "MissingParameter"
    assert error_code(api("GetSendEmailStatus", {"RequestDate": "yesterday"})) == "InvalidParameterValue.WrongDate"
    assert error_code(api("GetSendEmailStatus", {"RequestDate": "2024-01-01", "Limit": 101})) == "FailedOperation.InvalidLimit"
