"""Signal receivers: message events become callbacks; reputation events become notifications.

A receiver never raises: these signals fire from the sending path and the reputation engine, and
a broken callback or mail relay must not undo (or crash) what they recorded.
"""

import logging

from django.dispatch import receiver

from domains import signals as domain_signals
from notify import services
from sending.recording import message_event

log = logging.getLogger(__name__)


@receiver(message_event, dispatch_uid="notify.callbacks")
def _on_message_event(sender, message, kind, detail, **kwargs):
    try:
        services.queue_callback(message, kind, detail)
    except Exception:
        log.exception("could not queue the callback for %s %s", kind, message.message_id)


@receiver(domain_signals.level_changed, dispatch_uid="notify.level_changed")
def _on_level_changed(sender, change, **kwargs):
    try:
        services.notify_level_changed(change)
    except Exception:
        log.exception("could not notify level change %s", change.pk)


@receiver(domain_signals.account_frozen, dispatch_uid="notify.account_frozen")
def _on_account_frozen(sender, freeze, **kwargs):
    try:
        services.notify_account_frozen(freeze)
    except Exception:
        log.exception("could not notify freeze %s", freeze.pk)


@receiver(domain_signals.domain_claim_removed, dispatch_uid="notify.domain_claim_removed")
def _on_domain_claim_removed(sender, account_id, name, reason, **kwargs):
    try:
        services.notify_domain_claim_removed(account_id, name, reason)
    except Exception:
        log.exception("could not notify the removed claim of account %s on %s", account_id, name)
