"""Sender domains: create (with a DKIM key pair), the DNS records to publish, verification, deletion.

A SenderDomain row is an account's claim on a name. Several accounts may claim one name; whichever
publishes its own verification token first owns it, and the other claims are removed with a notice
(domains.signals.domain_claim_removed); an unverified claim expires after UNVERIFIED_CLAIM_LIFETIME.

- create_domain: a new claim; CreatedByOther only when another account has verified the name.
- records_for: SPF, DKIM, DMARC and the claim's verification record.
- check_dns: look them up; all matching verifies the claim (take_ownership), or ClaimRemoved.
- force_verify: staff, without DNS; also removes the other claims.
- expire_unverified_claims: the periodic job's work.
- delete_domain, domain_for_account.

DNS lookups are in domains.dns; this module decides what they mean for the domain. Errors carry the
API error code (the SDK's) and a human message, so the API and the console report them alike.
"""

from __future__ import annotations

import base64
import re
from functools import partial

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account
from accounts.staff import log_staff_action
from core import crypto
from core.addresses import NotAsciiAddress, domain_to_ascii
from domains import dns, signals
from domains.models import UNVERIFIED_CLAIM_LIFETIME, SenderDomain

DKIM_BITS = {0: 1024, 1: 2048}  # the API's DKIMOption, as the SDK documents it: 0 1024-bit, 1 2048-bit

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


LOST = signals.CLAIM_LOST  # another account proved control of the name first
EXPIRED = signals.CLAIM_EXPIRED  # not verified within UNVERIFIED_CLAIM_LIFETIME
UNVERIFIED = (SenderDomain.PENDING, SenderDomain.FAILED)
EXPIRE_BATCH = 500


class DomainError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class ClaimRemoved(DomainError):
    """The claim is gone: another account verified the name (LOST), it expired (EXPIRED), or its own
    account deleted it meanwhile (reason None)."""

    def __init__(self, domain: SenderDomain, reason: str | None):
        if reason == LOST:
            message = _("%(name)s has been verified by another account; your claim on it is removed.") % {"name": domain.name}
            super().__init__("InvalidParameterValue.CreatedByOther", message)
        elif reason == EXPIRED:
            message = _("%(name)s was not verified within %(days)s days of being added; it is removed. Add it again to get new DNS records.") % {"name": domain.name, "days": UNVERIFIED_CLAIM_LIFETIME.days}
            super().__init__("ResourceNotFound", message)
        else:
            super().__init__("ResourceNotFound", _("The sender domain does not exist."))
        self.reason = reason


def _why_gone(domain: SenderDomain) -> str | None:
    """Why a claim that was there a moment ago is not: for the message the caller gets."""
    if SenderDomain.objects.filter(name=domain.name, status=SenderDomain.VERIFIED).exclude(account_id=domain.account_id).exists():
        return LOST
    return EXPIRED if domain.claim_expired(timezone.now()) else None


def normalize_domain_name(raw: str) -> str:
    """A syntactically valid domain name in lower-case ASCII (IDNA), or DomainError."""
    if not isinstance(raw, str):
        raise DomainError("InvalidParameterValue", _("The domain must be a string."))
    name = raw.strip().rstrip(".").lower()
    if not name:
        raise DomainError("InvalidParameterValue", _("Enter a domain name, e.g. mail.example.com."))
    try:
        # IDNA 2008 with the UTS #46 mapping, as core.addresses converts recipients' domains, so an
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


def _repeat_creation(name: str) -> DomainError:
    return DomainError("InvalidParameterValue.RepeatCreation", _("%(name)s is already one of your sender domains.") % {"name": name})


def create_domain(account: Account, raw_name: str, dkim_option: int = 0) -> SenderDomain:
    """Claim a domain name: a pending sender domain with a fresh DKIM key and verification token.

    Refused only when the account claimed it already or another account has verified it. Another
    account's unverified claim changes nothing here, and the answer does not tell it exists.
    """
    name = normalize_domain_name(raw_name)
    if dkim_option not in DKIM_BITS or isinstance(dkim_option, bool):
        raise DomainError("InvalidParameterValue", _("DKIMOption must be 0 (1024-bit key) or 1 (2048-bit key)."))
    claims = SenderDomain.objects.filter(Q(account=account) | Q(status=SenderDomain.VERIFIED), name=name)
    for claim in claims.only("account_id"):
        if claim.account_id == account.pk:
            raise _repeat_creation(name)
        raise DomainError("InvalidParameterValue.CreatedByOther", _("%(name)s has been verified by another account.") % {"name": name})
    bits = DKIM_BITS[dkim_option]
    private_pem, public_b64 = _dkim_key_pair(bits)
    try:
        with transaction.atomic():
            return SenderDomain.objects.create(
                account=account, name=name, dkim_bits=bits,
                dkim_private_key_encrypted=crypto.encrypt(private_pem), dkim_public_key=public_b64,
            )
    except IntegrityError:  # the account's own request created it a moment ago (one claim per account)
        raise _repeat_creation(name) from None


def dkim_private_key(domain: SenderDomain) -> str:
    return crypto.decrypt(domain.dkim_private_key_encrypted)


def records_for(domain: SenderDomain) -> list[dns.Record]:
    return dns.expected_records(domain.name, domain.dkim_selector, domain.dkim_public_key, domain.verification_token)


def check_dns(domain: SenderDomain) -> SenderDomain:
    """Look up every record now and keep the results; a claim whose records all match is verified.

    A verified domain stays verified when a later check fails (a DNS hiccup must not stop its mail);
    the failing result is shown on its page. A domain verified before the verification record existed
    keeps its status the same way. ClaimRemoved when the claim lost the name or has expired.
    """
    if domain.claim_expired(timezone.now()):
        if _remove_claim_if_unverified(domain.pk, EXPIRED):
            raise ClaimRemoved(domain, EXPIRED)
        try:  # verified meanwhile (this copy is older): checked as the verified domain it is
            domain.refresh_from_db()
        except SenderDomain.DoesNotExist:
            raise ClaimRemoved(domain, _why_gone(domain)) from None
    results = dns.check_records(records_for(domain))
    domain.dns_results = {r.kind: r.as_dict() for r in results}
    domain.last_checked_at = timezone.now()
    checked = {"dns_results": domain.dns_results, "last_checked_at": domain.last_checked_at}
    if all(r.ok for r in results) and not domain.is_verified:
        return take_ownership(domain, checked)
    if not domain.is_verified:
        status = SenderDomain.FAILED if domain.status == SenderDomain.FAILED or _seen_before(domain) else SenderDomain.PENDING
        # Only while the row is still unverified: this copy may be older than a verification made
        # meanwhile (the periodic job's batch while the owner clicks Check), which must not be undone.
        if SenderDomain.objects.filter(pk=domain.pk, status__in=UNVERIFIED).update(status=status, **checked):
            domain.status = status
            return domain
    if not SenderDomain.objects.filter(pk=domain.pk).update(**checked):
        # Removed while DNS was asked (another account verified the name, it expired, or was deleted).
        raise ClaimRemoved(domain, _why_gone(domain))
    if not domain.is_verified:  # verified meanwhile: the caller sees it as it is
        domain.refresh_from_db(fields=["status", "verified_at"])
    return domain


def take_ownership(domain: SenderDomain, fields: dict | None = None, *, refuse_if_taken: bool = False) -> SenderDomain:
    """Make `domain` the verified claim on its name and remove every other account's claim on it.

    1. Lock every claim on the name in id order, so two verifications of one name queue here
       instead of deadlocking; the second finds the first's result.
    2. Another claim is verified already: this claim lost; it is removed (ClaimRemoved), or with
       `refuse_if_taken` (staff) refused with nothing changed.
    3. Mark this claim verified, with `fields` (the check's results). The partial unique constraint
       one_verified_claim_per_name is the last word should anything verify without this lock.
    4. Remove the other claims; their members get a notice once this commits.
    """
    fields = fields or {}
    # Verified when its records were found (the check's time), or now when staff force it.
    verified_at = fields.get("last_checked_at") or timezone.now()
    lost = gone = False
    with transaction.atomic():
        claims = list(SenderDomain.objects.select_for_update().filter(name=domain.name).order_by("pk").only("pk", "account_id", "status", "name"))
        mine = next((claim for claim in claims if claim.pk == domain.pk), None)
        others = [claim for claim in claims if claim.pk != domain.pk]
        if mine is None:
            if refuse_if_taken:
                raise DomainError("ResourceNotFound", _("This claim on %(name)s was removed meanwhile.") % {"name": domain.name})
            gone = True
        elif mine.is_verified:
            if fields:
                SenderDomain.objects.filter(pk=mine.pk).update(**fields)
            _remove_claims(others, LOST)  # any that slipped in beside it (created during its verification)
        elif any(claim.is_verified for claim in others):
            if refuse_if_taken:
                raise DomainError("OperationDenied", _("%(name)s is verified by another account already.") % {"name": domain.name})
            _remove_claims([mine], LOST)
            lost = True
        else:
            try:
                with transaction.atomic():
                    SenderDomain.objects.filter(pk=mine.pk).update(status=SenderDomain.VERIFIED, verified_at=verified_at, **fields)
            except IntegrityError:
                if refuse_if_taken:
                    raise DomainError("OperationDenied", _("%(name)s is verified by another account already.") % {"name": domain.name}) from None
                _remove_claims([mine], LOST)
                lost = True
            else:
                _remove_claims(others, LOST)
    if lost:
        raise ClaimRemoved(domain, LOST)
    if gone:
        raise ClaimRemoved(domain, _why_gone(domain))
    domain.refresh_from_db(fields=["status", "verified_at", "dns_results", "last_checked_at"])
    return domain


def _remove_claims(claims: list[SenderDomain], reason: str) -> None:
    """Delete unverified claims (inside the caller's transaction); tell their accounts after the commit."""
    if not claims:
        return
    SenderDomain.objects.filter(pk__in=[claim.pk for claim in claims]).exclude(status=SenderDomain.VERIFIED).delete()
    for claim in claims:
        transaction.on_commit(partial(
            signals.domain_claim_removed.send, sender=SenderDomain, account_id=claim.account_id, name=claim.name, reason=reason,
        ))


def _remove_claim_if_unverified(pk: int, reason: str) -> bool:
    with transaction.atomic():
        # A claim verified once is never removed as expired, whatever its status says now.
        claim = SenderDomain.objects.select_for_update().filter(pk=pk, status__in=UNVERIFIED, verified_at__isnull=True).only("pk", "account_id", "name").first()
        if claim is None:
            return False
        _remove_claims([claim], reason)
    return True


def expire_unverified_claims() -> int:
    """Remove every claim never verified UNVERIFIED_CLAIM_LIFETIME after it was made; how many."""
    cutoff = timezone.now() - UNVERIFIED_CLAIM_LIFETIME
    expired = 0
    while True:
        due = list(SenderDomain.objects.filter(status__in=UNVERIFIED, verified_at__isnull=True, created_at__lte=cutoff).order_by("pk").values_list("pk", flat=True)[:EXPIRE_BATCH])
        # Each under its row lock, re-read: a claim verified a moment ago is not removed.
        expired += sum(_remove_claim_if_unverified(pk, EXPIRED) for pk in due)
        if len(due) < EXPIRE_BATCH:
            return expired


def _seen_before(domain: SenderDomain) -> bool:
    # A pending domain stays "pending" for its first day (DNS takes time); after that a failing check says so.
    return (timezone.now() - domain.created_at).total_seconds() > 86400


def force_verify(domain: SenderDomain, user=None, *, actor_label: str = "", reason: str = "") -> SenderDomain:
    """Mark verified without DNS (offline installs); logged as a staff action (SPEC §5, §7).

    As a DNS verification, it removes the other accounts' claims on the name; refused (DomainError,
    nothing changed) when another account has verified it.
    """
    take_ownership(domain, refuse_if_taken=True)
    log_staff_action(user, "force_verify", domain.name, f"{reason} (account {domain.account_id})".strip(), actor_label=actor_label)
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
