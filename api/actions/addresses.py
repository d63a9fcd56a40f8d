"""Sender addresses: CreateEmailAddress, ListEmailAddress, DeleteEmailAddress (rules in sending.services)."""

from __future__ import annotations

from accounts.models import Account
from api.params import Params
from api.registry import action
from sending import services
from sending.models import SenderAddress
from sending.services import SendError


@action("CreateEmailAddress", errors=(SendError,))
def create_email_address(account: Account, p: Params) -> dict:
    email = p.string("EmailAddress", max_length=254)
    name = p.string("EmailSenderName", required=False, default="", allow_empty=True, max_length=200)
    services.create_sender_address(account, email, name)
    return {}


@action("ListEmailAddress")
def list_email_address(account: Account, p: Params) -> dict:
    addresses = SenderAddress.objects.filter(account=account).order_by("email")
    return {
        "EmailSenders": [
            {
                "EmailAddress": address.email,
                "EmailSenderName": address.display_name,
                "CreatedTimestamp": int(address.created_at.timestamp()),
                "SmtpPwdType": 0,  # no SMTP submission here: mail goes in through the API and the console
            }
            for address in addresses
        ]
    }


@action("DeleteEmailAddress", errors=(SendError,))
def delete_email_address(account: Account, p: Params) -> dict:
    services.delete_sender_address(account, p.string("EmailAddress", max_length=254))
    return {}
