"""The demo data of `manage.py seed_demo` (and so of `bin/dev start`).

Everything is created through the same services the product uses, and today's traffic goes through
the real reputation engine (reserve_quota, record_outcome), so what the console shows is true: the
demo domain's levels were earned by the rules (SPEC §3.2), not written by hand.

Idempotent: each part is created only when it is missing, and today's traffic only when the domain
has none yet today, so a second run the same day changes nothing.
"""

from __future__ import annotations

import math

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Account, ApiKey, Membership
from domains.models import DomainDay, SenderDomain
from domains.reputation.services import get_day, platform_today, record_outcome, reserve_quota
from domains.services import create_domain, force_verify

ACCOUNT_NAME = "Demo Co"
DEMO_EMAIL = "demo@sesconsole.test"
DEMO_PASSWORD = "demo-password-123"
ADMIN_EMAIL = "admin@sesconsole.test"
ADMIN_PASSWORD = "admin-password-123"
ACTOR = "seed_demo"

CLIMBING_DOMAIN = "news.demo-co.test"  # earns several levels today
STEADY_DOMAIN = "mail.demo-co.test"  # some traffic, below the upgrade threshold
QUIET_DOMAIN = "alerts.demo-co.test"  # verified, nothing sent yet
PENDING_DOMAIN = "billing.demo-co.test"  # waiting for its DNS records
VERIFIED_DOMAINS = (CLIMBING_DOMAIN, STEADY_DOMAIN, QUIET_DOMAIN)
TARGET_LEVEL = 5
MAILBOXES = ("gmail.com", "outlook.com", "yahoo.com", "qq.com")

# Good mail: well inside U1 (SPEC §3.2) and far from every downgrade and freeze rule.
# Shares are per mille of the messages sent to one mailbox type.
GOOD_MAIL = {"invalid": 10, "spam": 3, "bounced": 15, "opened": 450, "clicked": 80, "unsubscribed": 2}


def seed_demo() -> list[str]:
    """Create whatever of the demo is missing; one line per thing created (none on a second run)."""
    done: list[str] = []
    account = _demo_account(done)
    _staff_user(done)
    domains = {name: _domain(account, name, done) for name in (*VERIFIED_DOMAINS, PENDING_DOMAIN)}
    for name in VERIFIED_DOMAINS:
        if not domains[name].is_verified:
            # Offline installs verify by hand; the staff log says the demo did it.
            force_verify(domains[name], None, actor_label=ACTOR, reason="demo data")
            done.append(f"Verified {name} (forced; demo data)")
    if not account.api_keys.exists():
        key, secret = ApiKey.issue(account)
        done.append(f"API key SecretId {key.secret_id} SecretKey {secret} (the SecretKey is shown only now)")
    if not _sent_today(domains[CLIMBING_DOMAIN]):
        start = domains[CLIMBING_DOMAIN].level
        sent = _climb(domains[CLIMBING_DOMAIN], max(TARGET_LEVEL, start))
        done.append(f"Sent {sent:,} messages from {CLIMBING_DOMAIN} today: level {start} → {domains[CLIMBING_DOMAIN].level}")
    if not _sent_today(domains[STEADY_DOMAIN]):
        sent = _send(domains[STEADY_DOMAIN], 240, first=0)
        done.append(f"Sent {sent:,} messages from {STEADY_DOMAIN} today")
    return done


def _demo_account(done: list[str]) -> Account:
    User = get_user_model()
    user = User.objects.filter(username=DEMO_EMAIL).first()
    membership = Membership.objects.filter(user=user).select_related("account").first() if user else None
    if membership is not None:
        return membership.account
    with transaction.atomic():
        if user is None:
            user = User.objects.create_user(username=DEMO_EMAIL, email=DEMO_EMAIL, password=DEMO_PASSWORD)
            done.append(f"Created the demo owner {DEMO_EMAIL}")
        account = Account.objects.create(name=ACCOUNT_NAME)
        Membership.objects.create(account=account, user=user, role=Membership.OWNER)
    done.append(f"Created the account “{ACCOUNT_NAME}” (id {account.pk})")
    return account


def _staff_user(done: list[str]) -> None:
    User = get_user_model()
    if not User.objects.filter(username=ADMIN_EMAIL).exists():
        User.objects.create_superuser(ADMIN_EMAIL, ADMIN_EMAIL, ADMIN_PASSWORD)
        done.append(f"Created the staff user {ADMIN_EMAIL}")


def _domain(account: Account, name: str, done: list[str]) -> SenderDomain:
    domain = SenderDomain.objects.filter(name=name).first()
    if domain is None:
        domain = create_domain(account, name)
        done.append(f"Created the sender domain {name}")
    return domain


def _sent_today(domain: SenderDomain) -> bool:
    return DomainDay.objects.filter(domain=domain, day=platform_today(), sent__gt=0).exists()


def _climb(domain: SenderDomain, target_level: int) -> int:
    """Send good mail in rounds, each to 72% of the cap in force, until the rules have lifted the
    domain to `target_level`; a domain already there sends one ordinary day's share."""
    if domain.level >= target_level:
        return _send(domain, min(get_day(domain).cap // 5, 2_000), first=0)
    total = 0
    for _ in range(30):  # a bound, in case the rules were tuned so that good mail never upgrades
        row = get_day(domain)
        sent = _send(domain, math.ceil(row.cap * 0.72) - row.sent, first=total)
        total += sent
        domain.refresh_from_db()
        if sent == 0 or domain.level >= target_level:
            break
    return total


def _send(domain: SenderDomain, count: int, *, first: int) -> int:
    """Reserve `count` messages against the cap, then record their outcomes mailbox by mailbox."""
    if count <= 0:
        return 0
    recipients = [f"reader{first + i}@{MAILBOXES[i % len(MAILBOXES)]}" for i in range(count)]
    if not reserve_quota(domain, recipients).ok:
        return 0
    today = platform_today()
    for mailbox in MAILBOXES:
        n = sum(1 for address in recipients if address.endswith("@" + mailbox))
        share = {outcome: n * per_mille // 1000 for outcome, per_mille in GOOD_MAIL.items()}
        delivered = n - share["invalid"] - share["spam"] - share["bounced"]
        address = f"reader@{mailbox}"
        for outcome, how_many in [("delivered", delivered), *share.items()]:
            if how_many:
                record_outcome(domain, today, outcome, address, n=how_many)
    return count
