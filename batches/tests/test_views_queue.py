"""The queue status page (SPEC §5): per domain today's sent vs cap, paused tasks with a countdown,
queued and in-flight messages, the freeze; its fragment polls while anything moves and stops when idle."""

import pytest

from accounts.models import AccountFreeze
from batches.models import BatchTask
from batches.tests import batch_fixtures
from batches.tests.batch_fixtures import drain, make_list, new_task
from core.clock import platform_today
from sending.models import Message
from sending.tests.send_fixtures import set_sent

sender = batch_fixtures.sender
template = batch_fixtures.template
HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def test_an_idle_queue_shows_the_domains_and_does_not_poll(signed_in, verified_domain):
    set_sent(verified_domain, 120)

    response = signed_in.get("/queue/")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-domain="mail.alice.example">120 / 500<' in page
    assert '<progress class="bar" max="500" value="120"' in page
    assert "Not frozen" in page
    assert "every 2s" not in page
    assert "no longer refreshes" in page


def test_a_sending_task_makes_the_page_poll_and_shows_the_queue(signed_in, account, sender, template):
    task = new_task(account, make_list(account, 4), template)
    drain(task)  # four messages written, waiting for the delivery workers
    Message.objects.filter(pk=Message.objects.order_by("id").first().pk).update(status=Message.SENDING)
    BatchTask.objects.filter(pk=task.pk).update(status=BatchTask.SENDING)

    page = signed_in.get("/queue/").content.decode()

    assert 'hx-trigger="every 2s"' in page
    assert 'data-count="queued">3<' in page
    assert 'data-count="in-flight">1<' in page
    assert 'data-count="sending-tasks">1<' in page
    assert 'data-domain="mail.alice.example">4 / 500<' in page
    assert f'data-task="{task.pk}"' in page


def test_the_fragment_keeps_polling_while_messages_move_and_stops_when_idle(signed_in, account, sender, template):
    task = new_task(account, make_list(account, 2), template)
    drain(task)

    busy = signed_in.get("/queue/", headers=HTMX)
    assert busy.status_code == 200
    assert "<html" not in busy.content.decode()
    assert 'id="queue-status"' in busy.content.decode()
    assert 'hx-trigger="every 2s"' in busy.content.decode()

    Message.objects.update(status=Message.DELIVERED)
    idle = signed_in.get("/queue/", headers=HTMX)

    assert idle.status_code == 286  # django-htmx's HttpResponseStopPolling: htmx stops, and still swaps
    assert "every 2s" not in idle.content.decode()
    assert 'data-count="queued">0<' in idle.content.decode()


def test_a_paused_task_shows_its_countdown_without_polling(signed_in, account, sender, template):
    set_sent(sender.domain, 498)
    task = new_task(account, make_list(account, 5), template)
    drain(task)
    Message.objects.update(status=Message.DELIVERED)

    response = signed_in.get("/queue/", headers=HTMX)

    page = response.content.decode()
    assert response.status_code == 286
    assert "Paused for today" in page
    assert 'class="countdown"' in page and "in 24 h 00 min" in page
    assert 'hx-trigger="countdown-done"' in page  # the browser asks once the countdown runs out
    assert "cap reached" in page
    assert 'data-count="paused-tasks">1<' in page


def test_the_freeze_is_shown(signed_in, account, verified_domain):
    AccountFreeze.objects.create(account=account, day=platform_today(), rule="F1")

    page = signed_in.get("/queue/").content.decode()

    assert 'id="queue-freeze"' in page
    assert "Frozen until the end of" in page


def test_an_outsider_sees_only_their_own_queue(client, outsider, account, sender, template):
    new_task(account, make_list(account, 2), template)
    client.force_login(outsider)

    page = client.get("/queue/").content.decode()

    assert "mail.alice.example" not in page
    assert 'data-count="sending-tasks">0<' in page
    assert "No batch task is sending" in page


def test_the_queue_needs_a_signed_in_member(client):
    assert client.get("/queue/").status_code == 302
