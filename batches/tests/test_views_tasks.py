"""The batch task pages: list, create form, progress, cancel — for the owner, and 404 for an outsider."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from batches.models import BatchTask, ReceiverList
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import SENDER, drain, make_list, new_task
from domains.models import SenderDomain
from domains.services import create_domain
from sending import services as sending
from sending.models import Message, Template
from sending.tests.send_fixtures import set_sent

sender = batch_fixtures.sender
template = batch_fixtures.template


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def customers(account):
    return make_list(account, 5)


@pytest.fixture
def paused_task(account, sender, template, customers):
    set_sent(sender.domain, 497)  # room for three of the five
    task = new_task(account, customers, template)
    drain(task)
    assert task.status == BatchTask.PAUSED
    return task


def form_data(sender_address, approved, receiver_list, **overrides) -> dict:
    data = {
        "sender": sender_address.pk, "template": approved.pk, "receiver_list": receiver_list.pk,
        "subject": "News for {{name}}", "task_type": "1", "begin_time": "", "interval_hours": "", "unsubscribe": "0",
    }
    data.update(overrides)
    return data


# --- list ----------------------------------------------------------------------------------------


def test_the_list_shows_status_counts_and_resume_time(signed_in, paused_task):
    response = signed_in.get("/batches/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Paused for today" in page
    assert f"/batches/{paused_task.pk}/" in page
    assert "Welcome" in page and "Customers" in page  # template and list
    for label, value in (("Requested", 5), ("Sent", 3), ("Cached", 2)):
        assert f'data-label="{label}">{value}</td>' in page
    assert timezone.localtime(paused_task.resume_at).strftime("%Y-%m-%d %H:%M") in page
    assert "in 24 h 00 min" in page or "in 23 h 59 min" in page


def test_an_empty_list_says_how_to_start(signed_in):
    response = signed_in.get("/batches/")
    assert "No batch tasks yet" in response.content.decode()


def test_the_list_shows_only_the_accounts_tasks(client, outsider, paused_task):
    client.force_login(outsider)
    response = client.get("/batches/")
    assert f"/batches/{paused_task.pk}/" not in response.content.decode()


# --- detail --------------------------------------------------------------------------------------


def test_the_detail_shows_progress_pause_reason_and_countdown(signed_in, paused_task):
    # Read three hours before it resumes, on a clock that stands still: a slow machine changes nothing.
    with time_machine.travel(paused_task.resume_at - dt.timedelta(hours=3), tick=False):
        response = signed_in.get(f"/batches/{paused_task.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert '<progress id="task-bar" class="bar" max="5" value="3">' in page
    assert "reached its daily cap of 500" in page
    assert 'class="countdown"' in page
    assert 'data-seconds="10800"' in page
    assert "It resumes by itself at" in page
    assert page.count("/log/") >= 3  # each message opens its timeline in the send log
    assert f"/batches/{paused_task.pk}/cancel/" in page


def test_a_failed_task_shows_why(signed_in, account, sender, template, customers):
    task = new_task(account, customers, template)
    SenderDomain.objects.filter(pk=sender.domain_id).update(status=SenderDomain.FAILED)
    drain(task)

    page = signed_in.get(f"/batches/{task.pk}/").content.decode()

    assert 'id="failure-reason"' in page
    assert "mail.alice.example is no longer verified." in page
    assert "Cancel task" not in page


def test_the_progress_fragment_polls_while_sending_and_stops_when_done(signed_in, account, sender, template, customers):
    task = new_task(account, customers, template)

    sending_now = signed_in.get(f"/batches/{task.pk}/", headers={"HX-Request": "true"})
    assert sending_now.status_code == 200
    assert 'hx-trigger="every 2s"' in sending_now.content.decode()
    assert "<html" not in sending_now.content.decode()

    drain(task)
    done = signed_in.get(f"/batches/{task.pk}/", headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling, and still swaps in the final numbers
    assert 'data-count="sent">5<' in done.content.decode()
    assert "every 2s" not in done.content.decode()


def test_an_outsider_gets_404_for_the_detail_and_cancel(client, outsider, paused_task):
    client.force_login(outsider)

    assert client.get(f"/batches/{paused_task.pk}/").status_code == 404
    assert client.get(f"/batches/{paused_task.pk}/cancel/").status_code == 404
    assert client.post(f"/batches/{paused_task.pk}/cancel/").status_code == 404
    paused_task.refresh_from_db()
    assert paused_task.status == BatchTask.PAUSED


def test_pages_need_a_signed_in_member(client, paused_task):
    assert client.get("/batches/").status_code == 302
    assert client.get(f"/batches/{paused_task.pk}/").status_code == 302


# --- create --------------------------------------------------------------------------------------


def test_the_form_offers_only_approved_templates_ready_lists_and_own_senders(
    signed_in, account, other_account, sender, template, customers
):
    held = sending.create_template(account, name="Held", subject="Hi", text="Hi", transactional=True)
    Template.objects.filter(pk=held.pk).update(status=Template.IN_REVIEW)
    ReceiverList.objects.create(account=account, name="Still loading", status=ReceiverList.UPLOADING)
    theirs = create_domain(other_account, "mail.charlie.example")
    SenderDomain.objects.filter(pk=theirs.pk).update(status=SenderDomain.VERIFIED)
    sending.create_sender_address(other_account, "ceo@mail.charlie.example")

    page = signed_in.get("/batches/new/").content.decode()

    assert SENDER in page and "Welcome" in page and "Customers" in page
    assert "Held" not in page and "Still loading" not in page and "ceo@mail.charlie.example" not in page


def test_an_immediate_task_is_created_and_opens_its_page(signed_in, account, sender, template, customers):
    response = signed_in.post("/batches/new/", form_data(sender, template, customers))

    task = BatchTask.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/batches/{task.pk}/"
    assert (task.account, task.status, task.subject, task.request_count) == (
        account, BatchTask.SENDING, "News for {{name}}", 5)


def test_a_recurring_task_is_created_with_its_schedule(signed_in, sender, template, customers):
    begin = (timezone.localtime() + dt.timedelta(days=1)).replace(second=0, microsecond=0)

    response = signed_in.post("/batches/new/", form_data(
        sender, template, customers, task_type="3", begin_time=begin.strftime("%Y-%m-%dT%H:%M"), interval_hours="12",
    ))

    assert response.status_code == 302
    task = BatchTask.objects.get()
    assert (task.task_type, task.status, task.begin_time, task.interval_hours) == (
        BatchTask.RECURRING, BatchTask.PENDING, begin, 12)


def test_a_timed_task_ignores_an_interval(signed_in, sender, template, customers):
    begin = (timezone.localtime() + dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    signed_in.post("/batches/new/", form_data(
        sender, template, customers, task_type="2", begin_time=begin.strftime("%Y-%m-%dT%H:%M"), interval_hours="5",
    ))
    task = BatchTask.objects.get()
    assert (task.task_type, task.begin_time, task.interval_hours) == (BatchTask.TIMED, begin, None)


@pytest.mark.parametrize("changes, error", [
    ({"task_type": "2"}, "needs the time to begin"),
    ({"task_type": "3", "begin_time": "2099-01-01T08:00"}, "number of hours between rounds"),
    ({"task_type": "3", "begin_time": "2099-01-01T08:00", "interval_hours": "0"}, "greater than or equal to 1"),
    ({"task_type": "2", "begin_time": "2001-01-01T08:00"}, "BeginTime is in the past"),
    ({"task_type": "2", "begin_time": "tomorrow"}, "Enter a valid date/time"),
    ({"task_type": "7"}, "Select a valid choice"),
    ({"template": "999999"}, "Select a valid choice"),
    ({"subject": "QQ群 123456"}, "content rule"),
])
def test_bad_input_is_refused_with_a_reason_and_nothing_written(signed_in, sender, template, customers, changes, error):
    response = signed_in.post("/batches/new/", form_data(sender, template, customers, **changes))

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not BatchTask.objects.exists()


def test_another_accounts_list_is_not_a_choice(signed_in, other_account, sender, template):
    their_list = make_list(other_account, 2, name="Theirs")

    response = signed_in.post("/batches/new/", form_data(sender, template, their_list))

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not BatchTask.objects.exists()


# --- cancel --------------------------------------------------------------------------------------


def test_cancel_asks_first_then_stops_the_task(signed_in, owner, paused_task):
    confirm = signed_in.get(f"/batches/{paused_task.pk}/cancel/")
    assert confirm.status_code == 200
    assert "the 2 not yet sent are never sent" in " ".join(confirm.content.decode().split())
    paused_task.refresh_from_db()
    assert paused_task.status == BatchTask.PAUSED

    response = signed_in.post(f"/batches/{paused_task.pk}/cancel/", follow=True)

    paused_task.refresh_from_db()
    assert paused_task.status == BatchTask.CANCELLED
    page = response.content.decode()
    assert f"Task {paused_task.pk} is cancelled." in page
    assert "Cancelled" in page and owner.email in page


def test_cancelling_a_finished_task_says_so(signed_in, account, sender, template, customers):
    task = new_task(account, customers, template)
    drain(task)
    sent = Message.objects.count()

    response = signed_in.post(f"/batches/{task.pk}/cancel/", follow=True)

    assert "has already ended" in response.content.decode()
    task.refresh_from_db()
    assert (task.status, Message.objects.count()) == (BatchTask.DONE, sent)


def test_cancel_needs_a_post_to_act(signed_in, paused_task):
    services_before = BatchTask.objects.get(pk=paused_task.pk).status
    assert signed_in.put(f"/batches/{paused_task.pk}/cancel/").status_code == 405
    assert BatchTask.objects.get(pk=paused_task.pk).status == services_before


def test_the_detail_lists_the_recipients_the_content_review_skipped_with_the_reason(
    signed_in, client, outsider, account, sender, template,
):
    from sending.models import SensitiveWord

    receivers = make_list(account, 3)
    receivers.receivers.filter(email="user1@inbox.example").update(template_data={"name": "Casino Bob", "code": "1"})
    SensitiveWord.objects.create(word="casino")  # after the list was loaded
    task = new_task(account, receivers, template)
    drain(task)

    page = signed_in.get(f"/batches/{task.pk}/").content.decode()

    assert 'data-count="skipped">1<' in page and 'data-count="sent">2<' in page
    assert "Skipped by the content review" in page
    skipped = page.split('id="task-skips"', 1)[1].split("</table>", 1)[0]
    assert "user1@inbox.example" in skipped and "user0@inbox.example" not in skipped
    assert "Contains &quot;casino&quot; from the sensitive-word list." in skipped and "Casino Bob" in skipped
    client.force_login(outsider)
    assert client.get(f"/batches/{task.pk}/").status_code == 404
