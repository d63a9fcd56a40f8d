"""The official SDK, unchanged, against a live server: every recipient-list action."""

import json

from tencentcloud.ses.v20201002 import models

from api.tests.signing import wait_for_the_next_second
from api.tests.test_sdk import key, request, sdk_error, ses  # noqa: F401  (fixtures)


def test_the_sdk_creates_fills_lists_and_deletes_a_recipient_list(ses):  # noqa: F811
    created = ses.CreateReceiver(request(models.CreateReceiverRequest, ReceiversName="Newsletter", Desc="monthly"))
    receiver_id = created.ReceiverId
    assert isinstance(receiver_id, int)

    added = ses.CreateReceiverDetail(request(
        models.CreateReceiverDetailRequest, ReceiverId=receiver_id, Emails=["a@example.com", "a@example.com"],
    ))
    assert (added.TotalCount, added.ValidCount, added.RepeatCount) == (2, 1, 1)

    data = models.ReceiverInputData()
    data.Email, data.TemplateData = "b@example.com", json.dumps({"name": "Bea"})
    with_data = ses.CreateReceiverDetailWithData(request(
        models.CreateReceiverDetailWithDataRequest, ReceiverId=receiver_id, Datas=[data],
    ))
    assert with_data.ValidCount == 1

    listed = ses.ListReceivers(request(models.ListReceiversRequest, Offset=0, Limit=10, KeyWord="News"))
    assert listed.TotalCount == 1
    [row] = listed.Data
    assert (row.ReceiverId, row.ReceiversName, row.Count, row.ReceiversStatus, row.InvalidCount) == (
        receiver_id, "Newsletter", 2, 3, 0
    )

    details = ses.ListReceiverDetails(request(models.ListReceiverDetailsRequest, ReceiverId=receiver_id, Offset=0, Limit=10))
    assert [(d.Email, d.Status) for d in details.Data] == [("a@example.com", 1), ("b@example.com", 1)]
    assert json.loads(details.Data[1].TemplateData) == {"name": "Bea"}
    assert details.ValidCount == 2

    ses.DeleteReceiver(request(models.DeleteReceiverRequest, ReceiverId=receiver_id))
    wait_for_the_next_second()  # the same request again: a new signature, not a replay
    error = sdk_error(lambda: ses.DeleteReceiver(request(models.DeleteReceiverRequest, ReceiverId=receiver_id)))
    assert error.code == "OperationDenied.ReceiverNotExist"
