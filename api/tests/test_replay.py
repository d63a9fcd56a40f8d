"""A request that changes something is accepted once; a read may be repeated (SPEC §4.6, api/replay.py).

The official SDKs sign neither X-TC-Action nor a nonce: a captured request could be sent again, or
sent again as another action, while its timestamp was inside the window; and two SDK calls with one
body in one second carry one signature. Each behaviour is checked with the signatures kept in Redis
and in the database (the two stores of accounts.ratelimit).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_py
import time_machine
from django.conf import settings as django_settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.db import OperationalError, connection
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.ses.v20201002 import models

from accounts import ratelimit
from accounts.models import AcceptedSignature
from api import replay
from api.registry import ACTIONS
from api.tests.signing import error_code, signed_headers, tc3_signature
from api.tests.test_sdk import request, sdk_client
from domains.models import DomainDay
from ops import periodic
from sending.models import Message, Template
from sending.tests import send_fixtures
from sending.tests.send_fixtures import SENDER
from tests import needs

sender = send_fixtures.sender
template = send_fixtures.template

# The first second of a 600 s rate-limit window (the limits below count in fixed windows).
START = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)
T = int(START.timestamp())
WINDOW = 300  # SES_API_TIMESTAMP_WINDOW_SECONDS' default, SPEC §6


def redis_url() -> str:
    configured = django_settings.CACHES["default"]
    url = configured["LOCATION"] if configured["BACKEND"].endswith("RedisCache") else "redis://127.0.0.1:6379/14"
    try:
        redis_py.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis_py.exceptions.ConnectionError:
        needs.missing("Redis on 127.0.0.1:6379")
    return url


@pytest.fixture(params=["redis", "database"])
def store(request, monkeypatch) -> str:
    """Where the accepted signatures are kept in this test: Redis, or the database (no Redis)."""
    if request.param == "redis":
        cache = RedisCache(redis_url(), {"KEY_PREFIX": "sesconsole-test", "OPTIONS": {"socket_connect_timeout": 2}})
    else:
        cache = LocMemCache("not-redis", {})
    monkeypatch.setattr(ratelimit, "cache", cache)
    return request.param


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def signed(api, action: str, params: dict, **sign) -> tuple[bytes, dict]:
    """A request as a client signs it, to be sent (and sent again) as it is."""
    body = json.dumps(params).encode()
    return body, signed_headers(api.secret_id, api.secret_key, action, body, **sign)


def send(api, body: bytes, headers: dict, ip: str = "203.0.113.7") -> dict:
    response = api.client.post("/", data=body, content_type="application/json", headers=headers, REMOTE_ADDR=ip)
    assert response.status_code == 200
    return response.json()["Response"]


def assert_replay(data: dict) -> None:
    assert error_code(data) == "AuthFailure.SignatureFailure", data
    assert "replay" in data["Error"]["Message"]


def send_email_params(template) -> dict:
    return {
        "FromEmailAddress": f"Alice News <{SENDER}>", "Destination": ["ann@example.org"],
        "Template": {"TemplateID": template.pk, "TemplateData": json.dumps({"name": "Ann", "code": "1"})},
    }


# --- Replays and the action swap -----------------------------------------------------------------


def test_a_send_email_sent_three_times_makes_one_message(api, sender, template, store):
    body, headers = signed(api, "SendEmail", send_email_params(template))

    first = send(api, body, headers)
    again = [send(api, body, headers) for _ in range(2)]

    assert "Error" not in first, first
    for data in again:
        assert_replay(data)
    assert list(Message.objects.values_list("message_id", flat=True)) == [first["MessageId"]]
    assert DomainDay.objects.get(domain=sender.domain).sent == 1


def test_a_captured_get_email_template_sent_again_as_delete_email_template_is_refused(api, template, store):
    body, headers = signed(api, "GetEmailTemplate", {"TemplateID": template.pk})
    assert send(api, body, headers)["TemplateName"] == "Welcome"

    swapped = send(api, body, {**headers, "X-TC-Action": "DeleteEmailTemplate"})

    assert_replay(swapped)
    assert Template.objects.filter(pk=template.pk).exists()
    assert api("GetEmailTemplate", {"TemplateID": template.pk})["TemplateName"] == "Welcome"


def test_a_read_sent_again_in_the_same_second_is_answered_again(api, template, store):
    body, headers = signed(api, "GetEmailTemplate", {"TemplateID": template.pk})

    answers = [send(api, body, headers) for _ in range(3)]

    assert [data.get("TemplateName") for data in answers] == ["Welcome"] * 3, answers


def test_a_read_and_then_a_write_with_the_same_signature_the_write_is_refused(api, template, store):
    body, headers = signed(api, "GetEmailTemplate", {"TemplateID": template.pk})
    assert send(api, body, headers)["TemplateName"] == "Welcome"
    assert send(api, body, headers)["TemplateName"] == "Welcome"  # a repeated read does not unlock writes

    assert_replay(send(api, body, {**headers, "X-TC-Action": "UpdateEmailTemplate"}))
    assert_replay(send(api, body, {**headers, "X-TC-Action": "DeleteEmailTemplate"}))
    assert Template.objects.get(pk=template.pk).name == "Welcome"


def test_a_write_signature_sent_again_as_a_read_is_refused(api, store):
    body, headers = signed(api, "CreateReceiver", {"ReceiversName": "Once", "Desc": ""})
    assert "Error" not in send(api, body, headers)

    assert_replay(send(api, body, {**headers, "X-TC-Action": "ListReceivers"}))
    assert_replay(send(api, body, {**headers, "X-TC-Action": "GetEmailTemplate"}))
    assert api.key.account.receiver_lists.count() == 1


def test_a_read_with_an_unsigned_payload_is_accepted_once(api, clock, store):
    """UNSIGNED-PAYLOAD: the body is not signed, so one signature would carry any parameters."""
    headers = signed_headers(api.secret_id, api.secret_key, "ListEmailIdentities", b"UNSIGNED-PAYLOAD", timestamp=T)
    headers["X-TC-Content-SHA256"] = "UNSIGNED-PAYLOAD"

    assert "Error" not in send(api, b"{}", headers)
    assert_replay(send(api, b"{}", headers))
    assert_replay(send(api, json.dumps({"Limit": 1}).encode(), headers))


def test_the_read_only_actions_are_exactly_the_registered_gets_and_lists():
    """A new Get… or List… action that writes would be let repeat: this list must be read again then."""
    assert sorted(name for name in ACTIONS if replay.is_read_only(name)) == [
        "GetEmailIdentity", "GetEmailTemplate", "GetSendEmailStatus", "GetStatisticsReport",
        "ListBlackEmailAddress", "ListEmailAddress", "ListEmailIdentities", "ListEmailTemplates",
        "ListReceiverDetails", "ListReceivers", "ListSendTasks",
    ]
    assert not replay.is_read_only("getEmailTemplate")  # not the API's spelling: no such action, a write
    assert not replay.is_read_only("")


def test_a_replay_with_the_signature_in_capitals_is_still_a_replay(api, store):
    body, headers = signed(api, "CreateReceiver", {"ReceiversName": "Once", "Desc": ""})
    assert "Error" not in send(api, body, headers)
    head, _, signature = headers["Authorization"].rpartition("Signature=")

    data = send(api, body, {**headers, "Authorization": f"{head}Signature={signature.upper()}"})

    assert_replay(data)
    assert api.key.account.receiver_lists.count() == 1


def test_a_request_signed_290_seconds_ago_is_accepted_once(api, clock, store):
    body, headers = signed(api, "CreateReceiver", {"ReceiversName": "Late", "Desc": ""}, timestamp=T - 290)

    assert "Error" not in send(api, body, headers)
    assert_replay(send(api, body, headers))
    assert api.key.account.receiver_lists.count() == 1


def test_a_replay_in_the_last_second_of_the_window_is_refused_and_after_it_expired(api, clock, store):
    body, headers = signed(api, "CreateReceiver", {"ReceiversName": "Edge", "Desc": ""}, timestamp=T)
    assert "Error" not in send(api, body, headers)

    clock.move_to(START + dt.timedelta(seconds=WINDOW))
    assert_replay(send(api, body, headers))
    clock.move_to(START + dt.timedelta(seconds=WINDOW + 1))
    assert error_code(send(api, body, headers)) == "AuthFailure.SignatureExpire"
    assert api.key.account.receiver_lists.count() == 1


def test_a_signature_is_remembered_for_as_long_as_its_timestamp_is_valid(api, clock, store):
    """A client clock 300 s ahead: its request stays valid until 600 s from now, and so does the record."""
    ahead = T + WINDOW
    body, headers = signed(api, "CreateReceiver", {"ReceiversName": "Ahead", "Desc": ""}, timestamp=ahead)
    assert "Error" not in send(api, body, headers)

    kept_until = ahead + WINDOW + replay.CLOCK_MARGIN_SECONDS
    if store == "database":
        assert AcceptedSignature.objects.get().expires_at == dt.datetime.fromtimestamp(kept_until, dt.UTC)
    else:
        name = ratelimit.cache.make_and_validate_key(replay._key(api.secret_id, headers["Authorization"][-64:]))
        assert kept_until - T - 5 < redis_py.Redis.from_url(redis_url()).ttl(name) <= kept_until - T
    clock.move_to(START + dt.timedelta(seconds=2 * WINDOW))  # the timestamp's last valid second
    assert periodic.run_job(periodic.job_named("delete_expired_signatures")).ok
    assert_replay(send(api, body, headers))


def test_replays_count_neither_against_the_replaying_address_nor_against_the_key(api, clock, store, settings):
    """A replay proves its sender holds a correctly signed request, not that it guesses keys."""
    settings.SES_RATE_LIMITS = {**settings.SES_RATE_LIMITS, "api_secret_id": (3, 600), "api_bad_signature": (2, 600)}
    body, headers = signed(api, "CreateReceiver", {"ReceiversName": "Once", "Desc": ""})
    assert "Error" not in send(api, body, headers)

    for _ in range(3):
        assert_replay(send(api, body, headers, ip="198.51.100.1"))
    # The address is not locked out, and the key's owner still has the 2 requests of its budget left.
    fresh_body, fresh = signed(api, "ListReceivers", {"Offset": 0, "Limit": 10})
    assert "Error" not in send(api, fresh_body, fresh, ip="198.51.100.1")
    assert "Error" not in api("ListEmailTemplates", {"Offset": 0, "Limit": 10})
    assert error_code(api("ListEmailIdentities", {})) == "RequestLimitExceeded"
    assert api.key.account.receiver_lists.count() == 1


def test_35_replays_of_a_send_email_do_not_lock_another_tenant_out_of_the_same_address(
    api, other_api, sender, template, store,
):
    """Past the wrong-signature limit (30 in 300 s) every request from an address would be refused."""
    ip = "198.51.100.35"
    body, headers = signed(api, "SendEmail", send_email_params(template))
    assert "Error" not in send(api, body, headers, ip=ip)

    for _ in range(35):
        assert_replay(send(api, body, headers, ip=ip))

    other_body, other_headers = signed(other_api, "ListEmailIdentities", {})
    assert "Error" not in send(other_api, other_body, other_headers, ip=ip)
    assert Message.objects.count() == 1


def signed_with_the_action(api, action: str, params: dict, timestamp: int) -> tuple[bytes, dict]:
    """Signed as Tencent's signature documentation shows it: x-tc-action too, its value lowercased."""
    body = json.dumps(params).encode()
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    signature = tc3_signature(api.secret_key, body=body, timestamp=timestamp, date=date, action=action)
    return body, {
        "Host": "testserver", "X-TC-Action": action, "X-TC-Version": "2020-10-02", "X-TC-Timestamp": str(timestamp),
        "Authorization": f"TC3-HMAC-SHA256 Credential={api.secret_id}/{date}/ses/tc3_request, "
                         f"SignedHeaders=content-type;host;x-tc-action, Signature={signature}",
    }


def test_a_client_that_signs_the_action_may_send_one_body_to_two_actions_in_one_second(api, template, store):
    second = int(time.time())  # both signed in the same second: only the signed action tells them apart
    get_body, get = signed_with_the_action(api, "GetEmailTemplate", {"TemplateID": template.pk}, second)
    delete_body, delete = signed_with_the_action(api, "DeleteEmailTemplate", {"TemplateID": template.pk}, second)

    assert send(api, get_body, get)["TemplateName"] == "Welcome"
    assert "Error" not in send(api, delete_body, delete)
    assert not Template.objects.filter(pk=template.pk).exists()
    # The action is signed: the Delete cannot be sent again, nor the Get as another action.
    assert_replay(send(api, delete_body, delete))
    assert error_code(send(api, get_body, {**get, "X-TC-Action": "ListEmailTemplates"})) == "AuthFailure.SignatureFailure"


# --- Only a verified signature is recorded ---------------------------------------------------------


def test_a_request_whose_signature_does_not_verify_does_not_use_up_the_signature(api, store):
    """Headers taken in flight and sent first with another body do not block the real request."""
    body, headers = signed(api, "CreateReceiver", {"ReceiversName": "Real", "Desc": ""})

    forged = send(api, json.dumps({"ReceiversName": "Forged", "Desc": ""}).encode(), headers)
    assert error_code(forged) == "AuthFailure.SignatureFailure"
    assert "replay" not in forged["Error"]["Message"]
    assert AcceptedSignature.objects.count() == 0

    assert "Error" not in send(api, body, headers)
    assert list(api.key.account.receiver_lists.values_list("name", flat=True)) == ["Real"]


def test_an_expired_request_is_not_recorded(api, clock, store):
    body, headers = signed(api, "ListEmailIdentities", {}, timestamp=T - WINDOW - 1)

    assert error_code(send(api, body, headers)) == "AuthFailure.SignatureExpire"
    assert AcceptedSignature.objects.count() == 0


# --- The database store: its cleanup, and when a store cannot be reached -------------------------


def test_the_periodic_job_deletes_the_records_whose_timestamp_has_left_the_window(api, clock, monkeypatch):
    monkeypatch.setattr(ratelimit, "cache", LocMemCache("not-redis", {}))
    early_body, early = signed(api, "CreateReceiver", {"ReceiversName": "Early", "Desc": ""}, timestamp=T)
    assert "Error" not in send(api, early_body, early)
    clock.move_to(START + dt.timedelta(seconds=200))
    late_body, late = signed(api, "CreateReceiver", {"ReceiversName": "Late", "Desc": ""}, timestamp=T + 200)
    assert "Error" not in send(api, late_body, late)

    kept_until = T + WINDOW + replay.CLOCK_MARGIN_SECONDS
    clock.move_to(START + dt.timedelta(seconds=kept_until - T - 1))
    assert periodic.run_job(periodic.job_named("delete_expired_signatures")).summary == (
        "0 expired accepted signatures deleted"
    )
    clock.move_to(START + dt.timedelta(seconds=kept_until - T))
    result = periodic.run_job(periodic.job_named("delete_expired_signatures"))

    assert (result.ok, result.summary) == (True, "1 expired accepted signatures deleted")
    assert AcceptedSignature.objects.get().expires_at == dt.datetime.fromtimestamp(kept_until + 200, dt.UTC)
    # The forgotten one has long expired; the kept one is still refused as a replay.
    assert error_code(send(api, early_body, early)) == "AuthFailure.SignatureExpire"
    assert_replay(send(api, late_body, late))
    assert api.key.account.receiver_lists.count() == 2


def test_with_redis_unreachable_the_signatures_are_kept_in_the_database(api, monkeypatch):
    """The rate limits let requests through when Redis is down; the replay guard never does."""
    monkeypatch.setattr(ratelimit, "cache", RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}}))
    body, headers = signed(api, "CreateReceiver", {"ReceiversName": "Outage", "Desc": ""})

    assert "Error" not in send(api, body, headers)
    assert_replay(send(api, body, headers))
    assert AcceptedSignature.objects.count() == 1
    assert api.key.account.receiver_lists.count() == 1


def test_with_no_store_reachable_the_request_is_refused_and_nothing_is_done(api, sender, template, monkeypatch):
    monkeypatch.setattr(ratelimit, "cache", RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}}))

    def database_down(key, until, read_only):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(replay, "_add_in_database", database_down)
    body, headers = signed(api, "SendEmail", send_email_params(template))

    data = send(api, body, headers)

    assert error_code(data) == "FailedOperation.ServiceNotAvailable"
    assert Message.objects.count() == 0


# --- Concurrent duplicates ---------------------------------------------------------------------------

WORKER = """
import json, sys
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
body, headers = sys.argv[1].encode(), json.loads(sys.argv[2])
client = Client()
print("ready", flush=True)
sys.stdin.readline()  # every process starts at once
response = client.post("/", data=body, content_type="application/json", headers=headers)
print(json.dumps(response.json()["Response"]), flush=True)
"""


@pytest.mark.postgres(reason="needs a database server shared by several processes")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cache_url", ["db://", "redis"])
def test_of_six_processes_sending_one_signed_request_at_once_exactly_one_wins(api, sender, template, cache_url):
    body, headers = signed(api, "SendEmail", send_email_params(template))
    db = connection.settings_dict
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "sesconsole.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CACHE_URL": redis_url() if cache_url == "redis" else cache_url,
        "CELERY_BROKER_URL": "memory://",  # the delivery task goes nowhere: the messages are counted here
    }
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, body.decode(), json.dumps(headers)], cwd=root, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(6)
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        answers = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            answers.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    winners = [a for a in answers if "Error" not in a]
    assert len(winners) == 1, answers
    for data in answers:
        if data not in winners:
            assert_replay(data)
    assert list(Message.objects.values_list("message_id", flat=True)) == [winners[0]["MessageId"]]


# --- The official SDK ------------------------------------------------------------------------------


@pytest.fixture
def ses(live_server, transactional_db, account):
    from accounts.models import ApiKey

    key, secret = ApiKey.issue(account)
    return sdk_client(live_server, key.secret_id, secret)


def test_the_sdk_makes_repeated_calls_with_different_parameters(ses, account):
    names = [f"List {n}" for n in range(5)]
    ids = [ses.CreateReceiver(request(models.CreateReceiverRequest, ReceiversName=name, Desc="")).ReceiverId
           for name in names]
    pages = [ses.ListReceivers(request(models.ListReceiversRequest, Offset=offset, Limit=2)) for offset in (0, 2, 4)]

    assert len(set(ids)) == 5
    assert [page.TotalCount for page in pages] == [5, 5, 5]
    assert sorted(row.ReceiversName for page in pages for row in page.Data) == names
    assert account.receiver_lists.count() == 5


def test_the_sdk_sees_a_replay_when_it_sends_one_body_twice_in_one_second(ses, account):
    with time_machine.travel(START, tick=False) as frozen:
        ses.CreateReceiver(request(models.CreateReceiverRequest, ReceiversName="Twice", Desc=""))
        with pytest.raises(TencentCloudSDKException) as excinfo:
            ses.CreateReceiver(request(models.CreateReceiverRequest, ReceiversName="Twice", Desc=""))
        assert excinfo.value.code == "AuthFailure.SignatureFailure"
        assert "重放" in excinfo.value.message  # "replay" in the SDK's default language, zh-CN
        frozen.shift(1)  # the next second: a new signature
        listed = ses.ListReceivers(request(models.ListReceiversRequest, Offset=0, Limit=10))
    assert [row.ReceiversName for row in listed.Data] == ["Twice"]


def test_the_sdk_may_list_in_a_loop_with_one_body_in_one_second(ses, account):
    """ListEmailIdentities {} and ListEmailAddress {} in one second carry one signature, again and again."""
    with time_machine.travel(START, tick=False):
        for _ in range(20):
            identities = ses.ListEmailIdentities(request(models.ListEmailIdentitiesRequest))
            addresses = ses.ListEmailAddress(request(models.ListEmailAddressRequest))
            assert (identities.EmailIdentities, addresses.EmailSenders) == ([], [])
