"""The official SDK, unchanged, against a live server: addresses, templates, SendEmail, status, blacklist."""

import base64
import json

import pytest
from tencentcloud.ses.v20201002 import models

from api.tests import test_sdk
from api.tests.signing import wait_for_the_next_second
from api.tests.test_sdk import request, sdk_error
from core.clock import platform_today
from sending import tasks
from sending.models import Message, Suppression

key = test_sdk.key
ses = test_sdk.ses

UNSUB = '<a href="{{unsubscribe_url}}">Unsubscribe</a>'


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def broker(monkeypatch):
    """The ids handed to the workers (the broker is the edge of the machine)."""
    handed = []
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, **options: handed.append(args[0]))
    return handed


def test_addresses_templates_and_a_send_through_the_sdk(ses, verified_domain, broker):
    ses.CreateEmailAddress(request(models.CreateEmailAddressRequest, EmailAddress="news@mail.alice.example",
                                   EmailSenderName="Alice News"))
    [sender] = ses.ListEmailAddress(models.ListEmailAddressRequest()).EmailSenders
    assert (sender.EmailAddress, sender.EmailSenderName) == ("news@mail.alice.example", "Alice News")

    content = request(models.TemplateContent, Html=b64(f"<p>Hi {{{{name}}}}</p>{UNSUB}"), Text=b64("Hi {{name}}"))
    created = ses.CreateEmailTemplate(request(models.CreateEmailTemplateRequest, TemplateName="Welcome",
                                              TemplateContent=content))
    got = ses.GetEmailTemplate(request(models.GetEmailTemplateRequest, TemplateID=created.TemplateID))
    assert (got.TemplateName, got.TemplateStatus) == ("Welcome", 0)
    assert base64.b64decode(got.TemplateContent.Text).decode() == "Hi {{name}}"
    listed = ses.ListEmailTemplates(request(models.ListEmailTemplatesRequest, Limit=10, Offset=0))
    assert [(t.TemplateID, t.TemplateStatus, t.ReviewReason) for t in listed.TemplatesMetadata] == [
        (created.TemplateID, 0, "")
    ]
    ses.UpdateEmailTemplate(request(models.UpdateEmailTemplateRequest, TemplateID=created.TemplateID,
                                    TemplateName="Welcome v2", TemplateContent=content))

    sent = ses.SendEmail(request(
        models.SendEmailRequest, FromEmailAddress="Alice News <news@mail.alice.example>",
        Destination=["ann@example.org"], Subject="Welcome, {{name}}", Unsubscribe="2",
        Template=request(models.Template, TemplateID=created.TemplateID, TemplateData=json.dumps({"name": "Ann"})),
    ))
    message = Message.objects.get()
    assert sent.MessageId == message.message_id
    assert (message.status, message.subject) == (Message.QUEUED, "Welcome, Ann")
    assert broker == [[message.pk]]

    status = ses.GetSendEmailStatus(request(models.GetSendEmailStatusRequest, RequestDate=platform_today().isoformat(),
                                            MessageId=sent.MessageId, Limit=10, Offset=0))
    [row] = status.EmailStatusList
    assert (row.ToEmailAddress, row.SendStatus, row.DeliverStatus) == ("ann@example.org", 0, 0)

    # GetEmailTemplate's body and ListEmailAddress's again: each in a second of its own, or a replay.
    wait_for_the_next_second()
    ses.DeleteEmailTemplate(request(models.DeleteEmailTemplateRequest, TemplateID=created.TemplateID))
    ses.DeleteEmailAddress(request(models.DeleteEmailAddressRequest, EmailAddress="news@mail.alice.example"))
    assert ses.ListEmailAddress(models.ListEmailAddressRequest()).EmailSenders == []


def test_the_sdk_reports_send_refusals_with_their_codes(ses, verified_domain, broker):
    error = sdk_error(lambda: ses.SendEmail(request(
        models.SendEmailRequest, FromEmailAddress="nobody@mail.alice.example", Destination=["a@example.org"],
        Subject="Hi", Template=request(models.Template, TemplateID=1, TemplateData="{}"),
    )))
    assert error.code == "InvalidParameterValue.NoSuchSender"
    assert Message.objects.count() == 0


def test_the_blacklist_through_the_sdk(ses, account):
    Suppression.objects.create(account=account, email="gone@example.org", reason=Suppression.BLACKLIST, detail="550 5.1.1")

    listed = ses.ListBlackEmailAddress(request(models.ListBlackEmailAddressRequest, Limit=10, Offset=0,
                                               StartDate="2000-01-01", EndDate="2100-01-01"))
    assert ([(e.EmailAddress, e.IspDesc) for e in listed.BlackList], listed.TotalCount) == (
        [("gone@example.org", "550 5.1.1")], 1)

    ses.DeleteBlackList(request(models.DeleteBlackListRequest, EmailAddressList=["gone@example.org"]))
    assert not Suppression.objects.exists()
