"""Events of the reputation engine, for notifications and batch tasks to react to (they connect here)."""

from django.dispatch import Signal

# change: domains.models.LevelChange
level_changed = Signal()
# freeze: accounts.models.AccountFreeze. Batch tasks fail their unsent messages on this (SPEC §3.4).
account_frozen = Signal()
# An account's claim on a domain name was removed: reason CLAIM_LOST (another account proved control
# of the name first) or CLAIM_EXPIRED (not verified in time). account_id, name: whose claim, on what.
# Sent after the removal commits.
domain_claim_removed = Signal()
CLAIM_LOST = "lost"
CLAIM_EXPIRED = "expired"
