"""Fairness between tenants (issue 12, finding 4): one account's backlog of callbacks and deliveries
does not hold up another account's next message.

Real workers, laid out as `bin/dev start` and the README run them (core/queues.py): a delivery
worker and a background worker for callbacks and list imports. Bob's callback URL is a loopback
server that accepts connections and never answers (a hung host), and Bob has thousands of simulator
messages waiting; Alice then sends one message, which must reach the relay within a few seconds.
Before the queues were split, Bob's callbacks shared the one queue with delivery and each held a
worker for the callback timeout: Alice's message took over a minute.
"""

import socket
import threading
import time

import pytest

from core import queues
from domains.models import SenderDomain
from domains.services import create_domain
from notify.models import CallbackDelivery, CallbackEndpoint
from sending import services
from sending.models import Message
from tests.resilience.conftest import SERVER_ONLY, send_email, sink_counts, wait_until, worker_env

pytestmark = SERVER_ONLY

BOB_SENDER = "news@mail.bob.example"
BOB_SENDS = 40  # SendEmail calls of 50 simulator recipients each: 2,000 messages waiting
ALICE_WITHIN_SECONDS = 5


class SilentReceiver:
    """A callback receiver on 127.0.0.1 that takes every connection and never answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hooks"
        self.connections: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                connection, _address = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)  # held open, never read from or written to

    def close(self) -> None:
        """Hang up on everyone: a callback still waiting fails at once (the workers stop quickly)."""
        self.closed = True
        self.server.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def silent_receiver():
    receiver = SilentReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def bob(other_account, silent_receiver):
    """Another tenant: a verified domain with room for its backlog, and callbacks to the silent receiver."""
    domain = create_domain(other_account, "mail.bob.example")
    SenderDomain.objects.filter(pk=domain.pk).update(status=SenderDomain.VERIFIED, level=6)  # cap 20,000
    services.create_sender_address(other_account, BOB_SENDER, "Bob News")
    template = services.create_template(other_account, name="Bob", subject="Hi {{name}}", text="Hello {{name}}")
    endpoint = CallbackEndpoint(account=other_account, url=silent_receiver.url)
    endpoint.new_secret()
    endpoint.save()
    return other_account, template


def test_one_tenants_callback_and_delivery_backlog_does_not_delay_another_tenants_next_message(
    settings, account, news_template, bob, silent_receiver, smtp_sink, broker, workers, ses
):
    bob_account, bob_template = bob
    for n in range(BOB_SENDS):
        services.send_email(
            bob_account, from_address=BOB_SENDER, template_id=bob_template.pk, template_data={"name": "Bob"},
            destinations=[f"success+{n}-{i}@{settings.SES_SIMULATOR_DOMAIN}" for i in range(50)],
        )
    bob_waiting = Message.objects.filter(account=bob_account, status=Message.QUEUED)

    env = worker_env(broker, smtp_sink, SES_CALLBACK_ALLOW_PRIVATE_NETWORKS="1")
    workers.start(env, "background", concurrency=4, queues=queues.WORKERS["background"], pool="threads")
    workers.start(env, "delivery", concurrency=2, queues=queues.WORKERS["delivery"])
    bob_callbacks = CallbackDelivery.objects.filter(account=bob_account)
    try:
        # Bob's first messages are delivered: their callbacks are waiting, or hanging on his receiver.
        wait_until(lambda: bob_callbacks.count() >= 20, 30, "Bob's first callbacks")
        assert bob_waiting.count() > 1_000, "Bob's backlog drained before Alice sent: the test proves nothing"

        started = time.monotonic()
        send_email(ses, news_template, "ann@example.org")
        wait_until(lambda: "ann@example.org" in sink_counts(smtp_sink), 60, "Alice's message at the relay",
                   every=0.05)
        took = time.monotonic() - started
        still_waiting, hanging = bob_waiting.count(), len(silent_receiver.connections)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{workers.output}") from None
    finally:
        silent_receiver.close()

    print(f"Alice's message reached the relay in {took:.2f}s with {still_waiting} of Bob's messages waiting")
    assert took < ALICE_WITHIN_SECONDS, f"Alice waited {took:.1f}s behind Bob's backlog"
    assert still_waiting > 500, "Alice's message did not overtake Bob's backlog"
    assert hanging >= 4, "Bob's receiver was not holding his callbacks while Alice sent"
