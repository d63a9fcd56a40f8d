"""Events of the reputation engine, for notifications and batch tasks to react to (they connect here)."""

from django.dispatch import Signal

# change: domains.models.LevelChange
level_changed = Signal()
# freeze: accounts.models.AccountFreeze. Batch tasks fail their unsent messages on this (SPEC §3.4).
account_frozen = Signal()
