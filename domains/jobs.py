"""The periodic jobs of domains (ops/periodic.py JOBS): each runs one pass and says what it did.

    close_days              close every past platform day not closed yet (the engine's close_due_days)
    verify_pending_domains  check the DNS of pending and failed domains, least recently checked first
    expire_domain_claims    remove the claims still unverified 7 days after they were made
"""

import time

from django.db.models import F

from domains.models import SenderDomain
from domains.reputation.services import close_due_days
from domains.services import ClaimRemoved, check_dns, expire_unverified_claims

# A DNS check can wait seconds for a silent server: bound one run so the tick stays short, and let
# the next run (oldest check first) carry on where this one stopped.
VERIFY_BATCH = 100
VERIFY_SECONDS = 120


def close_days() -> str:
    """Close every past platform day not closed yet, in order (SPEC §3.3)."""
    closed = close_due_days()
    if not closed:
        return "no day to close"
    return "; ".join(f"closed {c.day}: {c.domains_evaluated} domains, {c.downgrades} downgraded" for c in closed)


def verify_pending_domains() -> str:
    """Re-check the DNS records of pending and failed domains, least recently checked first."""
    started = time.monotonic()
    domains = SenderDomain.objects.filter(status__in=[SenderDomain.PENDING, SenderDomain.FAILED]).order_by(
        F("last_checked_at").asc(nulls_first=True), "pk"
    )[:VERIFY_BATCH]
    checked = verified = removed = 0
    for domain in domains:
        if time.monotonic() - started > VERIFY_SECONDS:
            break
        checked += 1
        try:
            check_dns(domain)
        except ClaimRemoved:  # another account verified the name first, or the claim expired
            removed += 1
            continue
        verified += domain.is_verified
    if not checked:
        return "no pending domain"
    summary = f"checked {checked} domain(s), {verified} now verified"
    return f"{summary}, {removed} claim(s) removed" if removed else summary


def expire_domain_claims() -> str:
    """Remove the claims still unverified 7 days after they were made; their members are told."""
    expired = expire_unverified_claims()
    return f"removed {expired} expired domain claim(s)" if expired else "no expired domain claim"
