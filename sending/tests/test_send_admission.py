"""send_email reads what its checks need in one statement: the same answers as the ORM, the same
refusals in the same order, and the messages written as bulk_create writes them."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AccountFreeze
from domains.services import create_domain
from sending import services, writer
from sending.models import Message, SensitiveWord, Suppression, Template
from sending.services import SendError, send_email
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER, written

sender = send_fixtures.sender
template = send_fixtures.template

DATA = {"name": "Ann", "code": "4711"}


def send(account, template, **overrides):
    kwargs = {"from_address": SENDER, "destinations": ["ann@example.org"], "template_id": template.pk,
              "template_data": DATA, **overrides}
    return send_email(account, **kwargs)


def facts_both_ways(account, email, template_id, addresses):
    """(one statement, the ORM's queries) as comparable tuples."""
    def plain(facts):
        sender_row = None
        if facts.sender is not None:
            sender_row = (facts.sender.pk, facts.sender.email, facts.sender.display_name, facts.sender.domain.pk,
                          facts.sender.domain.name, facts.sender.domain.status, facts.sender.domain.dns_results,
                          facts.sender.domain.created_at)
        template_row = None
        if facts.template is not None:
            t = facts.template
            template_row = (t.pk, t.account_id, t.name, t.subject, t.html, t.text, t.status, t.transactional, t.updated_at)
        return sender_row, template_row, facts.sensitive_words, facts.frozen, facts.suppressed

    return (plain(services._admission_query.run(account, email, template_id, addresses)),
            plain(services._facts_by_orm(account, email, template_id, addresses)))


@pytest.mark.postgres(reason="the single statement is PostgreSQL's; elsewhere send_email uses the ORM")
@pytest.mark.django_db
def test_the_single_statement_answers_what_the_orm_answers(account, other_account, sender, template):
    theirs = services.create_template(other_account, name="Theirs", subject="Hi", text="Hello")
    SensitiveWord.objects.create(word="zebra")
    SensitiveWord.objects.create(word="aardvark")
    Suppression.objects.create(account=account, email="gone@example.org", reason=Suppression.BLACKLIST)
    Suppression.objects.create(account=account, email="left@example.org", reason=Suppression.UNSUBSCRIBED)
    Suppression.objects.create(account=other_account, email="ann@example.org", reason=Suppression.BLACKLIST)
    addresses = ["ann@example.org", "gone@example.org", "left@example.org"]

    cases = [
        (SENDER, template.pk, addresses),  # everything found
        ("nobody@mail.alice.example", template.pk, []),  # no such sender
        (SENDER, theirs.pk, addresses),  # another tenant's template reads as missing
        (SENDER, 10**6, ["x@example.org"]),  # no such template
        (SENDER, "7", addresses), (SENDER, True, addresses), (SENDER, None, []),  # not a template id at all
        (SENDER, 2**63, addresses),  # past a bigint: no template, no database error
    ]
    for email, template_id, wanted in cases:
        single, orm = facts_both_ways(account, email, template_id, wanted)
        assert single == orm, (email, template_id)
    single, _orm = facts_both_ways(account, SENDER, template.pk, addresses)
    assert single[2] == ["aardvark", "zebra"]
    assert single[4] == {("gone@example.org", Suppression.BLACKLIST), ("left@example.org", Suppression.UNSUBSCRIBED)}

    # A freeze counts on its day until it is lifted, as Account.is_frozen says.
    today = timezone.localdate()
    AccountFreeze.objects.create(account=account, day=today - dt.timedelta(days=1), rule="bounce")
    assert facts_both_ways(account, SENDER, template.pk, [])[0][3] is False
    freeze = AccountFreeze.objects.create(account=account, day=today, rule="bounce")
    single, orm = facts_both_ways(account, SENDER, template.pk, [])
    assert single == orm and single[3] is True
    AccountFreeze.objects.filter(pk=freeze.pk).update(lifted_at=timezone.now())
    single, orm = facts_both_ways(account, SENDER, template.pk, [])
    assert single == orm and single[3] is False


@pytest.mark.django_db
def test_an_unknown_sender_is_refused_before_a_bad_recipient(account, sender, template):
    with pytest.raises(SendError) as excinfo:
        send(account, template, from_address="nobody@mail.alice.example", destinations=["not an address"])
    assert excinfo.value.code == "InvalidParameterValue.NoSuchSender"


@pytest.mark.django_db
def test_a_template_in_review_is_refused_before_a_bad_recipient(account, sender, template):
    Template.objects.filter(pk=template.pk).update(status=Template.IN_REVIEW)
    with pytest.raises(SendError) as excinfo:
        send(account, template, destinations=["not an address"])
    assert excinfo.value.code == "OperationDenied.TemplateStatusError"


@pytest.mark.django_db
def test_a_bad_reply_to_is_refused_before_a_bad_recipient(account, sender, template):
    with pytest.raises(SendError) as excinfo:
        send(account, template, reply_to="no reply", destinations=["not an address"])
    assert excinfo.value.code == "InvalidParameterValue.IllegalEmailAddress"


@pytest.mark.django_db
def test_a_bad_recipient_is_refused_before_the_freeze_and_the_blacklist(account, sender, template):
    AccountFreeze.objects.create(account=account, day=timezone.localdate(), rule="bounce")
    Suppression.objects.create(account=account, email="gone@example.org", reason=Suppression.BLACKLIST)
    before = written(sender.domain)
    with pytest.raises(SendError) as excinfo:
        send(account, template, destinations=["gone@example.org", "not an address"])
    assert excinfo.value.code == "InvalidParameterValue.ReceiverEmailInvalid"
    with pytest.raises(SendError) as excinfo:
        send(account, template, destinations=["gone@example.org"])
    assert excinfo.value.code == "FailedOperation.HighRejectionRate"
    assert written(sender.domain) == before


@pytest.mark.django_db
def test_too_many_recipients_is_still_its_own_refusal(account, sender, template):
    with pytest.raises(SendError) as excinfo:
        send(account, template, destinations=[f"r{i}@example.org" for i in range(services.MAX_DESTINATIONS + 1)])
    assert excinfo.value.code == "FailedOperation.TooManyRecipients"


@pytest.mark.django_db
def test_a_sender_on_a_domain_no_longer_verified_cannot_send(account, sender, template):
    type(sender.domain).objects.filter(pk=sender.domain.pk).update(status="pending")
    with pytest.raises(SendError) as excinfo:
        send(account, template)
    assert excinfo.value.code == "FailedOperation.NotAuthenticatedSender"


@pytest.mark.django_db
def test_the_messages_written_are_the_rows_bulk_create_writes(account, sender, template):
    result = send(account, template, destinations=["ann@example.org", "Bob@Gmail.com"], cc=["cc@qq.com"],
                  reply_to="help@alice.example", unsubscribe=3)
    ours = list(Message.objects.order_by("id").values())
    assert [m["message_id"] for m in ours] == result.message_ids
    # The same messages through bulk_create, for comparison (ids, message ids and times differ).
    other = create_domain(account, "mail.other.example")
    made = Message.objects.bulk_create([
        Message(account=account, domain=other, request_id=m["request_id"], from_email=m["from_email"],
                from_name=m["from_name"], reply_to=m["reply_to"], recipient=m["recipient"],
                recipient_kind=m["recipient_kind"], mailbox_type=m["mailbox_type"], template=template,
                subject=m["subject"], template_data=m["template_data"], unsubscribe=m["unsubscribe"], bulk=m["bulk"],
                send_day=m["send_day"])
        for m in ours
    ])
    theirs = list(Message.objects.filter(pk__in=[m.pk for m in made]).order_by("id").values())
    differ = {"id", "message_id", "domain_id", "created_at"}
    assert [{k: v for k, v in m.items() if k not in differ} for m in ours] == [
        {k: v for k, v in m.items() if k not in differ} for m in theirs
    ]
    assert ours[0]["template_data"] == DATA and ours[0]["status"] == Message.QUEUED


@pytest.mark.django_db
def test_the_written_message_objects_are_saved_ones(account, sender, template):
    messages = writer._insert_messages([
        Message(account=account, domain=sender.domain, request_id="r", from_email=SENDER, recipient=f"r{i}@example.org",
                mailbox_type="example.org", template=template, subject="Hi", send_day=timezone.localdate())
        for i in range(3)
    ])
    stored = dict(Message.objects.values_list("recipient", "id"))
    assert [(m.recipient, m.pk) for m in messages] == [(r, stored[r]) for r in ("r0@example.org", "r1@example.org", "r2@example.org")]
    assert all(not m._state.adding for m in messages)
    assert writer._insert_messages([]) == []


@pytest.mark.postgres(reason="the single statement is PostgreSQL's")
@pytest.mark.django_db
def test_a_send_reads_its_checks_in_one_statement(account, sender, template):
    with CaptureQueriesContext(connection) as captured:
        send(account, template)
    before_the_transaction = []
    for query in captured.captured_queries:
        if (query["sql"] or "").upper().startswith(("BEGIN", "SAVEPOINT")):
            break
        before_the_transaction.append(query["sql"])  # (None: a prepared statement psycopg does not show)
    assert len(before_the_transaction) == 1, before_the_transaction
