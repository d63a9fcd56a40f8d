"""Fairness between accounts: which delivery queue a hand-out of messages goes to (SPEC §4.3).

    queue_for(message_id)  for a hand-out of messages of one account (one send, one batch chunk):
                           queues.DELIVERY while that account has at most SES_DELIVERY_FAIR_SHARE
                           messages queued (the ones being handed out included), else
                           queues.DELIVERY_BACKLOG

Why this bounds another account's wait: a delivery worker consumes both queues and takes them in
turns (kombu's fair cycle over a consumer's queues), so in front of an account's next message stand
at most each busy account's fair share on DELIVERY — plus one hand-out (up to 50 messages) for each
send that raced past the count at the same instant —, one backlog task per turn, and the tasks the
workers already hold — each for at most one turn, SES_DELIVERY_TURN_SECONDS (sending.delivery) —;
never a whole backlog, however many thousands of messages it holds. An account over its share
waits behind its own backlog; a group whose turn ended goes to the back of the queue again.

The count reads the partial index `message_queued_by_account` (at most share + 1 entries).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Subquery

from core import queues
from sending.models import Message


def queue_for(message_id: int) -> str:
    share = settings.SES_DELIVERY_FAIR_SHARE
    # One statement: the account is the message's (every message of a hand-out has the same).
    account = Subquery(Message.objects.filter(pk=message_id).values("account_id")[:1])
    waiting = Message.objects.filter(account_id=account, status=Message.QUEUED).order_by()
    over_share = waiting.values_list("pk", flat=True)[share : share + 1]
    return queues.DELIVERY_BACKLOG if list(over_share) else queues.DELIVERY
