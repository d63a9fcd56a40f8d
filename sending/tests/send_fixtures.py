"""Builders for the sending tests: a sender address on the verified domain and an approved template.

Test modules import the fixtures by name (pytest finds fixtures in a module's namespace)."""

from __future__ import annotations

import pytest

from domains.models import DomainDay
from domains.reputation.services import get_day
from sending import services
from sending.models import Message, MessageEvent, Suppression, Template

SENDER = "news@mail.alice.example"
WELCOME_HTML = '<p>Hello {{name}}, your code is {{code}}.</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>'
WELCOME_TEXT = "Hello {{name}}, your code is {{code}}."


@pytest.fixture
def sender(verified_domain):
    return services.create_sender_address(verified_domain.account, SENDER, "Alice News")


@pytest.fixture
def template(account) -> Template:
    template = services.create_template(
        account, name="Welcome", subject="Welcome, {{name}}", html=WELCOME_HTML, text=WELCOME_TEXT
    )
    assert template.status == Template.APPROVED, template.review_reason
    return template


def set_sent(domain, sent: int, **counters) -> DomainDay:
    row = get_day(domain)
    DomainDay.objects.filter(pk=row.pk).update(sent=sent, requested=sent, **counters)
    row.refresh_from_db()
    return row


def sent_today(domain) -> int:
    row = DomainDay.objects.filter(domain=domain).first()
    return row.sent if row else 0


def written(domain) -> tuple[int, int, int, int]:
    """What a send writes: messages, events, the day's sent, suppressions. Equal before and after a refusal."""
    return Message.objects.count(), MessageEvent.objects.count(), sent_today(domain), Suppression.objects.count()
