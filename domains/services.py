"""Sender domains: create (with a DKIM key pair), the DNS records to publish, verification, deletion.

DNS lookups are in domains.dns; this module decides what they mean for the domain. Errors carry the
API error code (the SDK's) and a human message, so the API and the console report them alike.
"""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account
from domains import dns
from domains.models import SenderDomain
from domains.staff import log_staff_action
from sending.addresses import NotAsciiAddress, domain_to_ascii
from sesconsole import crypto

DKIM_BITS = {0: 1024, 1: 2048}  # the API's DKIMOption, as the SDK documents it: 0 1024-bit, 1 2048-bit

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


class DomainError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def normalize_domain_name(raw: str) -> str:
    """A syntactically valid domain name in lower-case ASCII (IDNA), or DomainError."""
    if not isinstance(raw, str):
        raise DomainError("InvalidParameterValue", _("The domain must be a string."))
    name = raw.strip().rstrip(".").lower()
    if not name:
        raise DomainError("InvalidParameterValue", _("Enter a domain name, e.g. mail.example.com."))
    try:
        # IDNA 2008 with the UTS #46 mapping, as sending.addresses converts recipients' domains, so an
        # address on a domain (`x@straße.de`) and the domain itself have the same A-label.
        name = domain_to_ascii(name)
    except NotAsciiAddress:
        raise DomainError("InvalidParameterValue", _("“%(value)s” is not a valid domain name.") % {"value": raw[:100]}) from None
    labels = name.split(".")
    if (
        len(name) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        raise DomainError("InvalidParameterValue", _("“%(value)s” is not a valid domain name.") % {"value": raw[:100]})
    if name == settings.SES_SIMULATOR_DOMAIN or name.endswith("." + settings.SES_SIMULATOR_DOMAIN):
        raise DomainError("InvalidParameterValue", _("The mailbox simulator's domain cannot be a sender domain."))
    return name


def _dkim_key_pair(bits: int) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode()


def create_domain(account: Account, raw_name: str, dkim_option: int = 0) -> SenderDomain:
    """Create a pending sender domain with a fresh DKIM key; unique across all accounts."""
    name = normalize_domain_name(raw_name)
    if dkim_option not in DKIM_BITS or isinstance(dkim_option, bool):
        raise DomainError("InvalidParameterValue", _("DKIMOption must be 0 (1024-bit key) or 1 (2048-bit key)."))
    existing = SenderDomain.objects.filter(name=name).first()
    if existing is not None:
        if existing.account_id == account.pk:
            raise DomainError("InvalidParameterValue.RepeatCreation", _("%(name)s is already one of your sender domains.") % {"name": name})
        raise DomainError("InvalidParameterValue.CreatedByOther", _("%(name)s has been created by another account.") % {"name": name})
    bits = DKIM_BITS[dkim_option]
    private_pem, public_b64 = _dkim_key_pair(bits)
    try:
        with transaction.atomic():
            return SenderDomain.objects.create(
                account=account, name=name, dkim_bits=bits,
                dkim_private_key_encrypted=crypto.encrypt(private_pem), dkim_public_key=public_b64,
            )
    except IntegrityError:  # another request created it a moment ago
        raise DomainError("InvalidParameterValue.CreatedByOther", _("%(name)s has been created by another account.") % {"name": name}) from None


def dkim_private_key(domain: SenderDomain) -> str:
    return crypto.decrypt(domain.dkim_private_key_encrypted)


def records_for(domain: SenderDomain) -> list[dns.Record]:
    return dns.expected_records(domain.name, domain.dkim_selector, domain.dkim_public_key)


def check_dns(domain: SenderDomain) -> SenderDomain:
    """Look up every record now and keep the results; a domain whose records all match is verified.

    A verified domain stays verified when a later check fails (a DNS hiccup must not stop its mail);
    the failing result is shown on its page.
    """
    results = dns.check_records(records_for(domain))
    domain.dns_results = {r.kind: r.as_dict() for r in results}
    domain.last_checked_at = timezone.now()
    fields = ["dns_results", "last_checked_at"]
    if all(r.ok for r in results):
        if not domain.is_verified:
            domain.status = SenderDomain.VERIFIED
            domain.verified_at = domain.last_checked_at
            fields += ["status", "verified_at"]
    elif not domain.is_verified:
        domain.status = SenderDomain.FAILED if domain.status == SenderDomain.FAILED or _seen_before(domain) else SenderDomain.PENDING
        fields.append("status")
    domain.save(update_fields=fields)
    return domain


def _seen_before(domain: SenderDomain) -> bool:
    # A pending domain stays "pending" for its first day (DNS takes time); after that a failing check says so.
    return (timezone.now() - domain.created_at).total_seconds() > 86400


def force_verify(domain: SenderDomain, user=None, *, actor_label: str = "", reason: str = "") -> SenderDomain:
    """Mark verified without DNS (offline installs); logged as a staff action (SPEC §5, §7)."""
    if not domain.is_verified:
        domain.status = SenderDomain.VERIFIED
        domain.verified_at = timezone.now()
        domain.save(update_fields=["status", "verified_at"])
    log_staff_action(user, "force_verify", domain.name, reason, actor_label=actor_label)
    return domain


def delete_domain(domain: SenderDomain) -> None:
    try:
        domain.delete()
    except ProtectedError:  # batch tasks sent from its addresses keep them as their record
        raise DomainError(
            "OperationDenied",
            _("Batch tasks have been sent from %(name)s: it stays as their record.") % {"name": domain.name},
        ) from None


def domain_for_account(account: Account, raw_name: str) -> SenderDomain:
    """The caller's own domain by name; another account's domain is as good as missing (no leak)."""
    try:
        name = normalize_domain_name(raw_name)
    except DomainError:
        raise DomainError("ResourceNotFound", _("The sender domain does not exist.")) from None
    domain = SenderDomain.objects.filter(account=account, name=name).first()
    if domain is None:
        raise DomainError("ResourceNotFound", _("The sender domain does not exist."))
    return domain
