"""The official Python SDK, unchanged, against a live server (SPEC §6): every identity action."""

import json
import socket

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ses.v20201002 import models, ses_client

from accounts.models import ApiKey
from api.tests.signing import signed_headers, wait_for_the_next_second
from domains.models import SenderDomain
from domains.services import create_domain, force_verify

# The dns_stub fixture; harmless once the root conftest lists the plugin too.

NAME = "mail.alice.example"


def sdk_client(live_server, secret_id: str, secret_key: str, unsigned_payload: bool = False) -> ses_client.SesClient:
    host, port = live_server.thread.host, live_server.thread.port
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=f"{host}:{port}", reqTimeout=10))
    profile.unsignedPayload = unsigned_payload
    return ses_client.SesClient(credential.Credential(secret_id, secret_key), "ap-guangzhou", profile)


@pytest.fixture
def key(transactional_db, account) -> tuple[ApiKey, str]:
    return ApiKey.issue(account)


@pytest.fixture
def ses(live_server, key) -> ses_client.SesClient:
    api_key, secret = key
    return sdk_client(live_server, api_key.secret_id, secret)


def request(model, **fields):
    req = model()
    for name, value in fields.items():
        setattr(req, name, value)
    return req


def sdk_error(call) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as excinfo:
        call()
    return excinfo.value


def test_an_identity_goes_from_created_to_verified_to_listed_to_deleted(ses, dns_stub):
    created = ses.CreateEmailIdentity(request(models.CreateEmailIdentityRequest, EmailIdentity=NAME, DKIMOption=0))
    assert created.IdentityType == "DOMAIN"
    assert created.VerifiedForSendingStatus is False
    assert created.RequestId
    assert [(a.Type, a.SendDomain, a.Status) for a in created.Attributes] == [
        ("TXT", NAME, False), ("TXT", f"sesconsole._domainkey.{NAME}", False), ("TXT", f"_dmarc.{NAME}", False),
        ("TXT", f"_sesconsole.{NAME}", False),
    ]

    for attribute in created.Attributes:  # the customer publishes exactly what the API said
        dns_stub.set_txt(attribute.SendDomain, attribute.ExpectedValue)
    updated = ses.UpdateEmailIdentity(request(models.UpdateEmailIdentityRequest, EmailIdentity=NAME))
    assert updated.VerifiedForSendingStatus is True
    assert all(a.Status and a.CurrentValue == a.ExpectedValue for a in updated.Attributes)

    # Update, Get, Delete and Get again send one body: each waits for a second of its own.
    wait_for_the_next_second()
    got = ses.GetEmailIdentity(request(models.GetEmailIdentityRequest, EmailIdentity=NAME))
    assert got.VerifiedForSendingStatus is True
    assert got.DKIMOption == 0
    assert [a.ExpectedValue for a in got.Attributes] == [a.ExpectedValue for a in created.Attributes]

    listed = ses.ListEmailIdentities(models.ListEmailIdentitiesRequest())
    assert [(i.IdentityName, i.IdentityType, i.SendingEnabled, i.CurrentReputationLevel, i.DailyQuota)
            for i in listed.EmailIdentities] == [(NAME, "DOMAIN", True, 1, 500)]
    assert (listed.MaxReputationLevel, listed.MaxDailyQuota, listed.Total) == (1, 500, 1)

    wait_for_the_next_second()
    deleted = ses.DeleteEmailIdentity(request(models.DeleteEmailIdentityRequest, EmailIdentity=NAME))
    assert deleted.RequestId
    assert not SenderDomain.objects.filter(name=NAME).exists()
    wait_for_the_next_second()
    assert sdk_error(lambda: ses.GetEmailIdentity(
        request(models.GetEmailIdentityRequest, EmailIdentity=NAME))).code == "ResourceNotFound"


def test_a_2048_bit_identity_through_the_sdk(ses):
    created = ses.CreateEmailIdentity(request(models.CreateEmailIdentityRequest, EmailIdentity=NAME, DKIMOption=1))

    assert created.DKIMOption == 1
    assert SenderDomain.objects.get(name=NAME).dkim_bits == 2048


def test_the_sdk_reports_a_wrong_secret_key_as_a_signature_failure(live_server, key):
    api_key, _secret = key
    ses = sdk_client(live_server, api_key.secret_id, "not-the-secret-key")

    error = sdk_error(lambda: ses.CreateEmailIdentity(request(models.CreateEmailIdentityRequest, EmailIdentity=NAME)))

    assert error.code == "AuthFailure.SignatureFailure"
    assert error.requestId
    assert SenderDomain.objects.count() == 0


def test_the_sdk_reports_an_unknown_secret_id(live_server, transactional_db):
    ses = sdk_client(live_server, "AKIDunknown", "whatever")

    error = sdk_error(lambda: ses.ListEmailIdentities(models.ListEmailIdentitiesRequest()))

    assert error.code == "AuthFailure.SecretIdNotFound"


def test_the_sdk_reports_service_errors_with_their_codes(ses, other_account):
    force_verify(create_domain(other_account, "mail.charlie.example"))

    taken = sdk_error(lambda: ses.CreateEmailIdentity(
        request(models.CreateEmailIdentityRequest, EmailIdentity="mail.charlie.example")))
    wait_for_the_next_second()  # the same body, to another action
    hidden = sdk_error(lambda: ses.DeleteEmailIdentity(
        request(models.DeleteEmailIdentityRequest, EmailIdentity="mail.charlie.example")))

    assert taken.code == "InvalidParameterValue.CreatedByOther"
    assert hidden.code == "ResourceNotFound"
    assert SenderDomain.objects.filter(name="mail.charlie.example", account=other_account).exists()


def test_the_sdk_with_an_unsigned_payload_works_too(live_server, key):
    api_key, secret = key
    ses = sdk_client(live_server, api_key.secret_id, secret, unsigned_payload=True)

    listed = ses.ListEmailIdentities(models.ListEmailIdentitiesRequest())

    assert listed.Total == 0


def test_an_oversized_body_is_refused_from_its_content_length_without_waiting_for_it(live_server, key):
    api_key, secret = key
    headers = signed_headers(api_key.secret_id, secret, "ListEmailIdentities", b"{}")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items() if name != "Host")
    with socket.create_connection((live_server.thread.host, live_server.thread.port), timeout=5) as sock:
        # Announce a gigabyte and send none of it: only an answer that did not read the body comes back.
        sock.sendall((
            f"POST / HTTP/1.1\r\nHost: {live_server.thread.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10**9}\r\n{head}\r\n"
        ).encode())
        reply = read_http_response(sock)

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"\r\nContent-Type: application/json\r\n" in head
    assert json.loads(body)["Response"]["Error"]["Code"] == "RequestSizeLimitExceeded"


def read_http_response(sock: socket.socket) -> bytes:
    reply = b""

    def receive() -> None:
        nonlocal reply
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {reply!r}"
        reply += chunk

    while b"\r\n\r\n" not in reply:
        receive()
    head = reply.split(b"\r\n\r\n", 1)[0].decode()
    length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.lower().startswith("content-length:"))
    while len(reply) < len(head) + 4 + length:
        receive()
    return reply
