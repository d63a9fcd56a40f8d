"""Issue 12, finding 3: the content review sees what is sent, whichever way the data comes in.

SendEmail refused TemplateData with a staff sensitive word, a WeChat ID, an add-me-on-WeChat phrase
or a Telegram invite, but the same values went out when they came as list data
(CreateReceiverDetailWithData, then BatchSendEmail). Now list rows are reviewed when they are added,
and what each recipient would receive is reviewed again when the task dispatches it: a recipient the
review refuses is skipped with the reason, not counted against the cap, and the rest is sent. These
tests go through signed requests, dispatch the task as the workers do, and deliver over real SMTP to
the sink.
"""

import json

import pytest

from api.tests.signing import error_code
from batches.models import BatchSkip, BatchTask, Receiver, ReceiverList
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import SENDER, drain
from sending import services as sending
from sending.delivery import deliver_messages
from sending.models import Message, SensitiveWord, Template
from sending.tests.send_fixtures import sent_today

sender = batch_fixtures.sender
template = batch_fixtures.template

# The finding's four values: each is refused by SendEmail as TemplateData.
REFUSED_VALUES = [
    ("a staff sensitive word", "Best gambling odds", "sensitive_word"),
    ("a WeChat ID", "WeChat: abc_123", "wechat"),
    ("an add-me-on-WeChat phrase", "加微信 abc123", "wechat"),
    ("a Telegram group invite", "https://t.me/joinchat/AbCdEf", "group_invitation"),
]
IDS = [case[0] for case in REFUSED_VALUES]


@pytest.fixture
def sensitive_word(db):
    return SensitiveWord.objects.create(word="gambling")


@pytest.fixture
def contact_template(account) -> Template:
    """Approved: alone, "WeChat: {{contact}}" names no ID; filled with one, it does."""
    approved = sending.create_template(
        account, name="Contact", subject="Hello {{name}}", text="Hello {{name}}. Questions? WeChat: {{contact}}",
        transactional=True,
    )
    assert approved.status == Template.APPROVED, approved.review_reason
    return approved


def new_list(api, name="Customers") -> int:
    return api("CreateReceiver", {"ReceiversName": name, "Desc": "issue 12"})["ReceiverId"]


def add_rows(api, receiver_id: int, rows: list[tuple[str, dict]]) -> dict:
    return api("CreateReceiverDetailWithData", {"ReceiverId": receiver_id, "Datas": [
        {"Email": email, "TemplateData": json.dumps(data, ensure_ascii=False)} for email, data in rows
    ]})


def batch_send(api, template_id: int, receiver_id: int, subject: str = "News for {{name}}") -> BatchTask:
    reply = api("BatchSendEmail", {
        "FromEmailAddress": f"Alice News <{SENDER}>", "ReceiverId": receiver_id, "Subject": subject,
        "TaskType": 1, "Template": {"TemplateID": template_id},
    })
    assert "Error" not in reply, reply
    return BatchTask.objects.get(pk=reply["TaskId"])


def dispatch_and_deliver(task: BatchTask) -> None:
    drain(task)
    deliver_messages(list(Message.objects.filter(batch_task=task).order_by("id").values_list("id", flat=True)))


def delivered_text(smtp_sink) -> str:
    """Every delivered message as its recipient reads it: the subject and each decoded text part."""
    texts = []
    for received in smtp_sink.received:
        message = received.message
        texts.append(str(message["Subject"]))
        texts += [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    return "\n".join(texts)


@pytest.mark.parametrize(("value", "rule"), [c[1:] for c in REFUSED_VALUES], ids=IDS)
def test_send_email_refuses_the_value_as_template_data(api, sender, template, sensitive_word, value, rule):
    reply = api("SendEmail", {
        "FromEmailAddress": SENDER, "Destination": ["ann@example.org"], "Subject": "Hi",
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps({"name": value, "code": "1"})},
    })

    assert error_code(reply) == "InvalidParameterValue.InValidTemplateData"
    assert f"[{rule}]" in reply["Error"]["Message"]
    assert Message.objects.count() == 0


@pytest.mark.parametrize(("value", "rule"), [c[1:] for c in REFUSED_VALUES], ids=IDS)
def test_create_receiver_detail_with_data_refuses_the_value_and_the_batch_never_delivers_it(
    api, smtp_sink, account, sender, template, sensitive_word, value, rule,
):
    receiver_id = new_list(api)

    reply = add_rows(api, receiver_id, [
        ("ann@example.org", {"name": "Ann", "code": "1"}), ("bob@example.org", {"name": value, "code": "2"}),
    ])

    assert error_code(reply) == "InvalidParameterValue.InValidTemplateData"
    assert "Recipient 2" in reply["Error"]["Message"] and f"[{rule}] (name)" in reply["Error"]["Message"]
    assert Receiver.objects.count() == 0  # the whole call is refused, as for any other bad row

    assert add_rows(api, receiver_id, [("ann@example.org", {"name": "Ann", "code": "1"})])["ValidCount"] == 1
    task = batch_send(api, template.pk, receiver_id)
    dispatch_and_deliver(task)

    assert [r.rcpt_tos for r in smtp_sink.received] == [("ann@example.org",)]
    assert value not in delivered_text(smtp_sink)


def test_a_word_staff_add_after_the_import_skips_that_recipient_at_dispatch_and_the_rest_is_sent(
    api, smtp_sink, account, sender, template, verified_domain,
):
    receiver_id = new_list(api)
    added = add_rows(api, receiver_id, [
        ("ann@example.org", {"name": "Ann", "code": "1"}),
        ("bob@example.org", {"name": "Bob of Casino Royale", "code": "2"}),
        ("cy@example.org", {"name": "Cy", "code": "3"}),
    ])
    assert added["ValidCount"] == 3  # clean when it was added
    SensitiveWord.objects.create(word="casino")  # staff, after the import

    task = batch_send(api, template.pk, receiver_id)
    dispatch_and_deliver(task)

    task.refresh_from_db()
    assert (task.status, task.send_count, task.skipped_count, task.cache_count) == (BatchTask.DONE, 2, 1, 0)
    assert sent_today(verified_domain) == 2  # the skipped recipient is not counted against the cap
    assert sorted(r.rcpt_tos[0] for r in smtp_sink.received) == ["ann@example.org", "cy@example.org"]
    assert "Casino" not in delivered_text(smtp_sink)
    [skip] = BatchSkip.objects.filter(task=task)
    assert skip.email == "bob@example.org"
    assert skip.reason.startswith('[sensitive_word] (name) Contains "casino" from the sensitive-word list.')
    assert not Message.objects.filter(recipient="bob@example.org").exists()


def test_a_phrase_the_values_form_with_the_template_skips_that_recipient_at_dispatch(
    api, smtp_sink, account, sender, contact_template, verified_domain,
):
    receiver_id = new_list(api)
    # "abc_123" alone is no contact detail: the rows are added.
    assert add_rows(api, receiver_id, [
        ("ann@example.org", {"name": "Ann", "contact": "abc_123"}),
        ("bob@example.org", {"name": "Bob", "contact": "the front desk"}),
    ])["ValidCount"] == 2

    task = batch_send(api, contact_template.pk, receiver_id, subject="Hello {{name}}")
    dispatch_and_deliver(task)

    task.refresh_from_db()
    assert (task.send_count, task.skipped_count) == (1, 1)
    assert sent_today(verified_domain) == 1
    assert [r.rcpt_tos for r in smtp_sink.received] == [("bob@example.org",)]
    assert "abc_123" not in delivered_text(smtp_sink)
    [skip] = BatchSkip.objects.filter(task=task)
    assert (skip.email, skip.reason.split(" ", 2)[:2]) == ("ann@example.org", ["[wechat]", "(text)"])
    assert "WeChat: abc_123" in skip.reason


def test_send_email_reviews_the_template_filled_in_not_only_the_values(api, sender, contact_template):
    refused = api("SendEmail", {
        "FromEmailAddress": SENDER, "Destination": ["ann@example.org"],
        "Template": {"TemplateID": contact_template.pk, "TemplateData": json.dumps({"name": "Ann", "contact": "abc_123"})},
    })
    assert error_code(refused) == "InvalidParameterValue.InValidTemplateData"
    assert "[wechat] (text)" in refused["Error"]["Message"] and "WeChat: abc_123" in refused["Error"]["Message"]
    assert Message.objects.count() == 0

    accepted = api("SendEmail", {
        "FromEmailAddress": SENDER, "Destination": ["ann@example.org"],
        "Template": {"TemplateID": contact_template.pk, "TemplateData": json.dumps({"name": "Ann", "contact": "the desk"})},
    })
    assert "Error" not in accepted, accepted


def test_a_subject_variable_is_reviewed_with_the_subject_around_it(api, sender, account):
    approved = sending.create_template(account, name="Apps", subject="Add me on {{app}}", text="Hi", transactional=True)
    assert approved.status == Template.APPROVED

    reply = api("SendEmail", {
        "FromEmailAddress": SENDER, "Destination": ["ann@example.org"],
        "Template": {"TemplateID": approved.pk, "TemplateData": json.dumps({"app": "WeChat"})},
    })

    assert error_code(reply) == "InvalidParameterValue.InValidTemplateData"
    assert "[wechat] (subject)" in reply["Error"]["Message"]


def test_a_reason_that_quotes_the_word_address_still_gets_the_template_data_code(api, account):
    receiver_id = new_list(api)
    reply = add_rows(api, receiver_id, [("ann@example.org", {"note": "WeChat: abc_123 is my address"})])

    assert error_code(reply) == "InvalidParameterValue.InValidTemplateData"


def test_another_tenant_s_list_reads_as_missing_before_any_review(api, other_api, other_account):
    theirs = ReceiverList.objects.create(account=other_account, name="Theirs")

    reply = add_rows(api, theirs.pk, [("ann@example.org", {"note": "WeChat: abc_123"})])

    assert error_code(reply) == "OperationDenied.ReceiverNotExist"


# The review reads the subject rendered once; delivery rendered the stored, already rendered subject a
# second time, so a value holding "{{b}}" pulled b's value next to its own label after the review.
NESTED_DATA = {"a": "WeChat: {{b}}", "b": "abc_123"}


def test_send_email_delivers_a_value_holding_a_placeholder_as_text_not_filled_in_a_second_time(
    api, smtp_sink, sender, template,
):
    reply = api("SendEmail", {
        "FromEmailAddress": SENDER, "Destination": ["ann@example.org"], "Subject": "Hi {{a}}",
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps({**NESTED_DATA, "name": "Ann", "code": "1"})},
    })
    assert "Error" not in reply, reply
    deliver_messages(list(Message.objects.values_list("id", flat=True)))

    [received] = smtp_sink.received
    assert str(received.message["Subject"]) == "Hi WeChat: {{b}}"
    assert "abc_123" not in delivered_text(smtp_sink)


def test_a_list_value_holding_a_placeholder_is_delivered_as_text_not_filled_in_a_second_time(
    api, smtp_sink, sender, template,
):
    receiver_id = new_list(api)
    assert add_rows(api, receiver_id, [
        ("ann@example.org", {**NESTED_DATA, "name": "Ann", "code": "1"}),
    ])["ValidCount"] == 1

    dispatch_and_deliver(batch_send(api, template.pk, receiver_id, subject="Hi {{a}}"))

    [received] = smtp_sink.received
    assert str(received.message["Subject"]) == "Hi WeChat: {{b}}"
    assert "abc_123" not in delivered_text(smtp_sink)


@pytest.mark.parametrize("link", ["{{unsubscribe_url}}", "{{unsub_link}}"], ids=["the template's", "the task's own"])
def test_a_list_row_without_a_subject_variable_gets_it_empty_and_the_unsubscribe_link_still_filled(
    api, smtp_sink, sender, template, link,
):
    receiver_id = new_list(api)
    assert add_rows(api, receiver_id, [("ann@example.org", {"code": "1"})])["ValidCount"] == 1

    task = batch_send(api, template.pk, receiver_id, subject="Hi {{name}} " + link)
    dispatch_and_deliver(task)

    [received] = smtp_sink.received
    subject = str(received.message["Subject"])
    assert subject.startswith("Hi http") and "{{" not in subject
