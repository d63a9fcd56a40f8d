"""16 clients at once, each over its own HTTP connection with the official SDK, sending past a
domain's daily cap (SPEC §3.5): exactly the cap is accepted, not one message more or less, and every
refusal is FailedOperation.ExceedSendLimit — never a deadlock surfacing as an error.

The live server handles the requests in parallel threads, each with its own PostgreSQL session;
the reservation's conditional UPDATE is what serializes them.
"""

import threading

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from sending import services
from sending.models import Message
from sending.tests.send_fixtures import set_sent
from tests.resilience.conftest import SENDER, SERVER_ONLY, send_email

pytestmark = SERVER_ONLY

CLIENTS = 16
ROOM = 60  # the domain has sent all but this many of its cap today


def test_sixteen_clients_racing_past_the_cap_get_exactly_the_cap_accepted(account, verified_domain, broker, ses):
    services.create_sender_address(account, SENDER, "Alice News")
    template = services.create_template(account, name="News", subject="News for {{name}}", text="Hello {{name}}")
    day = set_sent(verified_domain, verified_domain.daily_cap - ROOM)
    assert day.cap == 500

    accepted: list[str] = []
    refusals: list[str] = []
    errors: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        start.wait()
        for attempt in range(3 * ROOM // CLIENTS + 4):  # enough for every client to hit the cap
            try:
                accepted.append(send_email(ses, template, f"c{number}-{attempt}@inbox.example"))
            except TencentCloudSDKException as exc:
                if exc.get_code() != "FailedOperation.ExceedSendLimit":
                    errors.append(f"{exc.get_code()}: {exc.get_message()}")
                    return
                refusals.append(exc.get_code())
                if len(refusals) >= CLIENTS * 2:
                    return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a client hung"

    assert errors == []
    assert len(accepted) == ROOM and len(set(accepted)) == ROOM
    assert refusals, "no client went past the cap"
    day.refresh_from_db()
    assert (day.sent, day.cap) == (500, 500)
    assert Message.objects.filter(domain=verified_domain).count() == ROOM
    assert set(Message.objects.values_list("message_id", flat=True)) == set(accepted)
