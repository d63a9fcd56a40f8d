"""SendEmail and GetSendEmailStatus. The checks and the writing are sending.services.send_email."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import Account
from api.errors import INVALID_PARAMETER, ApiError
from api.params import Params
from api.registry import action
from sending import services
from sending.models import Message
from sending.services import SendError

MAX_LIMIT = 100
# GetSendEmailStatus' DeliverStatus (the SDK's SendEmailStatus): 0 queued, 1 delivered, 2 dropped,
# 3 rejected by the receiving side, 8 delayed.
DELIVER_STATUS = {
    Message.QUEUED: 0,
    Message.SENDING: 0,
    Message.DELIVERED: 1,
    Message.DROPPED: 2,
    Message.BOUNCED: 3,
    Message.DEFERRED: 8,
}
SEND_STATUS_ACCEPTED = 0  # a message exists only once the platform accepted it


def _unsubscribe_option(p: Params) -> int:
    # The SDK declares Unsubscribe a string ("1"); other clients send the number.
    value = p.data.get("Unsubscribe")
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ApiError(INVALID_PARAMETER, _("The parameter Unsubscribe must be a number from 0 to 12."))


@action("SendEmail", errors=(SendError,))
def send_email(account: Account, p: Params) -> dict:
    if p.data.get("Attachments"):
        raise ApiError("FailedOperation.NoAttachPermission", _("Attachments are not supported."))
    if p.data.get("Template") is None and p.data.get("Simple") is not None:
        raise ApiError("FailedOperation.WithOutPermission", _("Only template sending is supported: give Template."))
    from_address = p.string("FromEmailAddress", max_length=400)
    destinations = p.array("Destination", of=str)
    template = Params(p.mapping("Template"))
    template_id = template.integer("TemplateID", minimum=1)
    template_data = template.string("TemplateData", required=False, default="", allow_empty=True)
    subject = p.string("Subject", required=False, default="", allow_empty=True, max_length=1000)
    reply_to = p.string("ReplyToAddresses", required=False, default="", allow_empty=True, max_length=254)
    cc = p.array("Cc", of=str, required=False) or []
    bcc = p.array("Bcc", of=str, required=False) or []
    unsubscribe = _unsubscribe_option(p)
    p.integer("TriggerType", required=False, choices=(0, 1))
    result = services.send_email(
        account, from_address=from_address, destinations=destinations, template_id=template_id,
        template_data=template_data, subject=subject, cc=cc, bcc=bcc, reply_to=reply_to, unsubscribe=unsubscribe,
    )
    return {"MessageId": result.message_ids[0]}


def _timestamp(value: dt.datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def _status(message: Message) -> dict:
    return {
        "MessageId": message.message_id,
        "ToEmailAddress": message.recipient,
        "FromEmailAddress": message.from_email,
        "SendStatus": SEND_STATUS_ACCEPTED,
        "DeliverStatus": DELIVER_STATUS.get(message.status, 0),
        "DeliverMessage": message.smtp_reply,
        "RequestTime": _timestamp(message.created_at),
        "DeliverTime": _timestamp(message.finished_at),
        "UserOpened": message.opened_at is not None,
        "UserClicked": message.clicked_at is not None,
        "UserUnsubscribed": message.unsubscribed_at is not None,
        "UserComplainted": message.complained_at is not None,
        "UserComplained": message.complained_at is not None,
    }


@action("GetSendEmailStatus")
def get_send_email_status(account: Account, p: Params) -> dict:
    raw_date = p.string("RequestDate")
    try:
        day = dt.date.fromisoformat(raw_date.strip())
    except ValueError:
        raise ApiError("InvalidParameterValue.WrongDate", _("RequestDate must be a date as YYYY-MM-DD.")) from None
    offset = p.integer("Offset", required=False, default=0, minimum=0)
    limit = p.integer("Limit", required=False, default=MAX_LIMIT, minimum=1)
    if limit > MAX_LIMIT:
        raise ApiError("FailedOperation.InvalidLimit", _("Limit is at most %(MAX_LIMIT)s.") % {"MAX_LIMIT": MAX_LIMIT})
    message_id = p.string("MessageId", required=False, max_length=64)
    to_address = p.string("ToEmailAddress", required=False, max_length=254)

    messages = Message.objects.filter(account=account, send_day=day)
    if message_id:
        # SendEmail returns one MessageId for the whole call: it finds every recipient of that call.
        request_ids = Message.objects.filter(account=account, message_id=message_id.strip()).values("request_id")
        messages = messages.filter(Q(message_id=message_id.strip()) | Q(request_id__in=request_ids))
    if to_address:
        # Typed with a non-ASCII domain, it finds the recipient stored as its IDNA A-label.
        messages = messages.filter(services.address_is("recipient", to_address))
    messages = messages.order_by("created_at", "id")[offset: offset + limit]
    return {"EmailStatusList": [_status(message) for message in messages]}
