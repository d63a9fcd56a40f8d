"""Accounts: creating a tenant with its owner, and staff switching API keys on and off."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import Account, ApiKey, Membership

MAX_NAME = Account._meta.get_field("name").max_length


class AccountError(Exception):
    pass


def create_account(name: str, owner_email: str) -> tuple[Account, object, str]:
    """Make an account, its owner user (username = email) and the owner's generated password.

    Every check runs before the first write, and the writes share one transaction: a refusal leaves
    no half-made account behind.
    """
    name = (name or "").strip()
    if not name:
        raise AccountError(_("Give the account a name."))
    if len(name) > MAX_NAME:
        raise AccountError(_("The account name is too long (%(count)s characters; at most %(MAX_NAME)s).") % {"count": len(name), "MAX_NAME": MAX_NAME})
    email = BaseUserManager.normalize_email((owner_email or "").strip())
    try:
        validate_email(email)
    except ValidationError:
        raise AccountError(_("“%(value)s” is not a valid email address.") % {"value": owner_email[:100]}) from None
    User = get_user_model()
    if User.objects.filter(Q(username__iexact=email) | Q(email__iexact=email)).exists():
        raise AccountError(_("A user with the email %(email)s already exists; every user belongs to one account.") % {"email": email})
    password = secrets.token_urlsafe(12)
    with transaction.atomic():
        account = Account.objects.create(name=name)
        user = User.objects.create_user(username=email, email=email, password=password)
        Membership.objects.create(account=account, user=user, role=Membership.OWNER)
    return account, user, password


def set_api_keys_enabled(keys, enabled: bool, staff_user) -> int:
    """Staff enable or disable API keys (admin); each change is logged. Returns how many changed."""
    from accounts.staff import log_staff_action

    changed = 0
    with transaction.atomic():
        for key in ApiKey.objects.select_for_update().filter(pk__in=[k.pk for k in keys], enabled=not enabled):
            key.enabled = enabled
            key.save(update_fields=["enabled"])
            log_staff_action(
                staff_user, "enable_api_key" if enabled else "disable_api_key",
                f"{key.secret_id} of account {key.account_id}",
            )
            changed += 1
    return changed
