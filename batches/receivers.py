"""Signal receivers of batches. A receiver never raises: the signals fire from the reputation
engine, inside the path that records an outcome, which must not break because of a batch task."""

import logging

from django.dispatch import receiver

from domains import signals as domain_signals

log = logging.getLogger(__name__)


@receiver(domain_signals.account_frozen, dispatch_uid="batches.fail_unsent_for_frozen_account")
def _on_account_frozen(sender, freeze, **kwargs):
    from batches.services import fail_unsent_for_frozen_account

    try:
        fail_unsent_for_frozen_account(freeze)
    except Exception:
        # The dispatcher checks the freeze before every chunk, so a task still stops sending.
        log.exception("could not fail the batch tasks of frozen account %s", freeze.account_id)
