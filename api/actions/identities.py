"""Sender domains ("email identities"): CreateEmailIdentity, GetEmailIdentity, UpdateEmailIdentity,
ListEmailIdentities, DeleteEmailIdentity. The rules are in domains.services; this maps the wire format."""

from __future__ import annotations

from django.db.models import Max
from django.utils.translation import gettext as _

from accounts.models import Account
from api.errors import INVALID_PARAMETER_VALUE, ApiError
from api.params import Params
from api.registry import action
from domains import services
from domains.models import SenderDomain
from domains.services import DomainError

IDENTITY_TYPE = "DOMAIN"
# The SDK's DKIMOption: 0 a 1024-bit key, 1 a 2048-bit key; domains.services owns the mapping.
DKIM_OPTION_BITS = services.DKIM_BITS
DKIM_BITS_OPTION = {bits: option for option, bits in DKIM_OPTION_BITS.items()}
# All three records are TXT records; the DNS record type is what a client must publish.
RECORD_TYPE = "TXT"


def _dns_attributes(domain: SenderDomain) -> list[dict]:
    attributes = []
    for record in services.records_for(domain):
        result = domain.dns_results.get(record.kind) or {}
        attributes.append({
            "Type": RECORD_TYPE,
            "SendDomain": record.host,
            "ExpectedValue": record.value,
            "CurrentValue": "\n".join(result.get("found") or []),
            "Status": bool(result.get("ok")),
        })
    return attributes


def _identity(domain: SenderDomain) -> dict:
    return {
        "IdentityType": IDENTITY_TYPE,
        "VerifiedForSendingStatus": domain.is_verified,
        "Attributes": _dns_attributes(domain),
        "DKIMOption": DKIM_BITS_OPTION.get(domain.dkim_bits, 0),
    }


@action("CreateEmailIdentity", errors=(DomainError,))
def create_email_identity(account: Account, p: Params) -> dict:
    name = p.string("EmailIdentity", max_length=253)
    dkim_option = p.integer("DKIMOption", required=False, default=0, choices=tuple(DKIM_OPTION_BITS))
    domain = services.create_domain(account, name, dkim_option)
    return _identity(domain)


@action("GetEmailIdentity", errors=(DomainError,))
def get_email_identity(account: Account, p: Params) -> dict:
    domain = services.domain_for_account(account, p.string("EmailIdentity"))
    return {**_identity(domain), "TagList": []}


@action("UpdateEmailIdentity", errors=(DomainError,))
def update_email_identity(account: Account, p: Params) -> dict:
    """The console's "verify now": look the DNS records up again."""
    name = p.string("EmailIdentity")
    p.boolean("NewAPI", required=False)
    dkim_option = p.integer("DKIMOption", required=False, choices=tuple(DKIM_OPTION_BITS))
    domain = services.domain_for_account(account, name)
    if dkim_option is not None and DKIM_OPTION_BITS[dkim_option] != domain.dkim_bits:
        # A new key would unpublish the one in DNS and stop the domain's mail until it is republished.
        raise ApiError(
            INVALID_PARAMETER_VALUE,
            _("%(name)s has a %(dkim_bits)s-bit DKIM key; to change it, delete and re-create the identity.") % {"name": domain.name, "dkim_bits": domain.dkim_bits},
        )
    return _identity(services.check_dns(domain))


@action("ListEmailIdentities")
def list_email_identities(account: Account, p: Params) -> dict:
    limit = p.integer("Limit", required=False, minimum=1, maximum=1000)
    offset = p.integer("Offset", required=False, default=0, minimum=0)
    domains = SenderDomain.objects.filter(account=account).order_by("name")
    total = domains.count()
    page = domains[offset: offset + limit] if limit is not None else domains[offset:]
    verified = domains.filter(status=SenderDomain.VERIFIED)
    return {
        "EmailIdentities": [
            {
                "IdentityName": domain.name,
                "IdentityType": IDENTITY_TYPE,
                "SendingEnabled": domain.is_verified,
                "CurrentReputationLevel": domain.level,
                "DailyQuota": domain.daily_cap,
                "SendIp": [],
                "TagList": [],
                "DKIMOption": DKIM_BITS_OPTION.get(domain.dkim_bits, 0),
            }
            for domain in page
        ],
        "MaxReputationLevel": verified.aggregate(level=Max("level"))["level"] or 0,
        "MaxDailyQuota": max((domain.daily_cap for domain in verified.only("level", "custom_cap")), default=0),
        "Total": total,
    }


@action("DeleteEmailIdentity", errors=(DomainError,))
def delete_email_identity(account: Account, p: Params) -> dict:
    services.delete_domain(services.domain_for_account(account, p.string("EmailIdentity")))
    return {}
