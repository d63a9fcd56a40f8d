"""Where a callback may go (issue 12, finding 9): IPv6 forms that carry an IPv4 address, names that
do not resolve, DNS rebinding, and a receiver too slow to hold a worker.

Names are resolved by the real DNS code against tests/dnsstub.py; receivers are real HTTP servers on
loopback addresses (127.0.0.2 is loopback too on Linux: a second machine for the pinning test).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time

import pytest

from notify import destinations, services
from notify.models import CallbackDelivery, CallbackEndpoint
from notify.tests.conftest import Receiver
from sending.tests.inbound_fixtures import make_message

PUBLIC = "93.184.215.14"  # a public address nothing in these tests connects to
PASSWORD = "correct horse 42"


@pytest.fixture
def private_networks_refused(settings):
    settings.SES_CALLBACK_ALLOW_PRIVATE_NETWORKS = False


def send_one_event(verified_domain, capture) -> CallbackDelivery:
    with capture(execute=True):
        make_message(verified_domain, "reader@example.org")
    return CallbackDelivery.objects.get()


# --- The address check ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "224.0.0.1", "255.255.255.255",
        "::1", "::", "fe80::1", "fc00::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1",  # IPv4-mapped
        "::127.0.0.1", "::10.1.2.3", "::169.254.169.254",  # IPv4-compatible (Python calls them global)
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1",  # well-known NAT64 (global to Python)
        "64:ff9b:1::7f00:1", "64:ff9b:1:7f00:0:100::",  # local-use NAT64: /96 and /48 places
        "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2002:c0a8:101::1",  # 6to4 (global to Python)
        "2001:0:7f00:1::f7f7:f7f7",  # Teredo with a loopback server
        "2001:0:808:808:0:0:80ff:fffe",  # Teredo with a loopback client (stored inverted)
        "::ffff:0:7f00:1", "::ffff:0:a00:1",  # IPv4-translated (SIIT; global to Python)
    ],
)
def test_an_address_that_is_or_carries_a_non_public_ipv4_address_is_refused(address):
    assert destinations.refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", PUBLIC, "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]
)
def test_a_public_address_and_the_ipv6_forms_of_one_pass(address):
    assert destinations.refusal(ipaddress.ip_address(address)) == ""


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"), ("::127.0.0.1", "127.0.0.1"), ("64:ff9b::7f00:1", "127.0.0.1"),
        ("2002:7f00:1::1", "127.0.0.1"), ("64:ff9b:1:7f00:0:100::", "127.0.0.1"),
    ],
)
def test_the_refusal_names_the_ipv4_address_an_ipv6_address_carries(address, carried):
    assert f"carries {carried}" in destinations.refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize("url", ["http://[64:ff9b::7f00:1]/", "http://[::127.0.0.1]/", "https://[::ffff:a9fe:a9fe]/x",
                                 "http://[2002:7f00:1::1]:8080/hook"])
def test_a_callback_url_with_an_ipv6_form_of_a_private_address_cannot_be_saved(account, private_networks_refused, url):
    with pytest.raises(services.NotifyError, match="inside the platform's network"):
        services.save_endpoint(account, url)

    assert not CallbackEndpoint.objects.exists()


def test_a_name_with_one_private_address_among_public_ones_is_refused(account, dns_stub, private_networks_refused):
    dns_stub.set_addresses("hooks.mixed.example", [PUBLIC, "127.0.0.1"])

    with pytest.raises(services.NotifyError, match="127.0.0.1"):
        services.save_endpoint(account, "https://hooks.mixed.example/ses")
    assert not CallbackEndpoint.objects.exists()


def test_a_name_with_a_nat64_address_of_loopback_is_refused(account, dns_stub, private_networks_refused):
    dns_stub.set_addresses("hooks.nat64.example", [PUBLIC, "64:ff9b::7f00:1"])

    with pytest.raises(services.NotifyError, match="carries 127.0.0.1"):
        services.save_endpoint(account, "https://hooks.nat64.example/ses")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:0/hook", "http://127.0.0.1:99999/hook", "http://127.0.0.1/\x01hook", "http://127.0.0.1/a\x7f"]
)
def test_a_url_no_request_can_be_made_to_is_refused_as_malformed(account, url):
    with pytest.raises(services.NotifyError, match="full http:// or https:// URL"):
        services.save_endpoint(account, url)
    assert not CallbackEndpoint.objects.exists()


def test_a_path_with_non_ascii_characters_reaches_the_receiver_percent_encoded(
    account, verified_domain, receiver, django_capture_on_commit_callbacks
):
    services.save_endpoint(account, receiver.url + "/caf\u00e9?q=%C3%A9&x=1")

    delivery = send_one_event(verified_domain, django_capture_on_commit_callbacks)

    assert delivery.status == CallbackDelivery.DELIVERED
    assert receiver.requests[0]["path"] == "/hooks/ses/caf%C3%A9?q=%C3%A9&x=1"


# --- Names that do not resolve -------------------------------------------------------------------


def test_a_host_that_does_not_resolve_cannot_be_saved(account, dns_stub):
    with pytest.raises(services.NotifyError, match="cannot be found") as refused:
        services.save_endpoint(account, "https://hooks.nowhere.example/ses")

    assert "hooks.nowhere.example" in refused.value.message and "NXDOMAIN" in refused.value.message
    assert not CallbackEndpoint.objects.exists()


def test_a_host_whose_dns_fails_cannot_be_saved(account, dns_stub):
    dns_stub.fail("hooks.broken.example")

    with pytest.raises(services.NotifyError, match="cannot be found"):
        services.save_endpoint(account, "https://hooks.broken.example/ses")
    assert not CallbackEndpoint.objects.exists()


def test_the_console_says_a_host_cannot_be_found_and_keeps_the_old_url(client, owner, account, dns_stub):
    dns_stub.set_addresses("hooks.alice.example", PUBLIC)
    services.save_endpoint(account, "https://hooks.alice.example/ses")
    client.login(username=owner.username, password=PASSWORD)

    response = client.post("/callbacks/", {"url": "https://hooks.typo.example/ses", "enabled": "on"})

    assert response.status_code == 200
    assert b"The callback host cannot be found" in response.content
    assert b"hooks.typo.example does not resolve" in response.content
    assert CallbackEndpoint.objects.get(account=account).url == "https://hooks.alice.example/ses"


def test_a_name_that_resolves_is_saved_even_when_it_answers_only_ipv6(account, dns_stub, private_networks_refused):
    dns_stub.set_addresses("hooks.v6.example", "2001:4860:4860::8888")

    endpoint, _ = services.save_endpoint(account, "https://hooks.v6.example/ses")

    assert endpoint.url == "https://hooks.v6.example/ses"


# --- DNS rebinding: the connection goes to the address that was checked --------------------------


@pytest.fixture
def two_machines():
    """The receiver on 127.0.0.2 and a decoy on 127.0.0.1, both on the same port."""
    for _ in range(20):
        checked = Receiver(200, host="127.0.0.2")
        try:
            decoy = Receiver(200, host="127.0.0.1", port=checked.port)
        except OSError:  # that port is taken on 127.0.0.1: try another
            checked.close()
            continue
        yield checked, decoy
        checked.close()
        decoy.close()
        return
    pytest.fail("no port free on both loopback addresses")


def test_the_post_goes_to_the_address_that_was_checked_even_if_dns_answers_otherwise_next(
    account, verified_domain, dns_stub, two_machines, django_capture_on_commit_callbacks
):
    checked, decoy = two_machines
    name = "hooks.rebind.example"
    dns_stub.set_addresses(name, "127.0.0.2")
    services.save_endpoint(account, f"http://{name}:{checked.port}/hooks/ses")
    # From now on the name answers 127.0.0.2 once, then 127.0.0.1 to every later lookup.
    dns_stub.set_addresses(name, "127.0.0.2", "127.0.0.1")

    delivery = send_one_event(verified_domain, django_capture_on_commit_callbacks)

    assert delivery.status == CallbackDelivery.DELIVERED
    assert len(checked.requests) == 1 and decoy.requests == []
    assert checked.requests[0]["headers"]["Host"] == f"{name}:{checked.port}"  # the original Host header
    assert dns_stub.lookups(name) == 2  # one when saved, one for the attempt: never a second one


def test_a_name_that_turns_to_loopback_after_it_was_saved_gets_no_callback(
    account, verified_domain, dns_stub, receiver, private_networks_refused, django_capture_on_commit_callbacks
):
    name = "hooks.rebind.example"
    dns_stub.set_addresses(name, PUBLIC)
    services.save_endpoint(account, f"http://{name}:{receiver.port}/hooks/ses")
    dns_stub.set_addresses(name, "127.0.0.1")

    delivery = send_one_event(verified_domain, django_capture_on_commit_callbacks)

    assert receiver.requests == []
    assert delivery.status == CallbackDelivery.PENDING and delivery.last_status_code is None
    assert delivery.last_error.startswith("refused:") and "127.0.0.1" in delivery.last_error


def test_a_name_that_stops_resolving_is_retried_with_the_reason(
    account, verified_domain, dns_stub, receiver, django_capture_on_commit_callbacks
):
    name = "hooks.gone.example"
    dns_stub.set_addresses(name, "127.0.0.1")
    services.save_endpoint(account, f"http://{name}:{receiver.port}/hooks/ses")
    dns_stub.remove(name)

    delivery = send_one_event(verified_domain, django_capture_on_commit_callbacks)

    assert delivery.status == CallbackDelivery.PENDING
    assert delivery.last_error.startswith("unresolvable:") and "NXDOMAIN" in delivery.last_error
    assert receiver.requests == []


# --- A slow receiver -----------------------------------------------------------------------------


class DripReceiver:
    """Accepts, reads the request, then answers one byte every `pause` seconds, for `limit` seconds."""

    def __init__(self, pause: float, limit: float):
        self.pause, self.limit = pause, limit
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks/ses"
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        ends = time.monotonic() + self.limit
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                if self.stopping.wait(self.pause) or time.monotonic() > ends:
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def drip_receiver():
    # It gives up after 6 s, so that a worker without a total bound is seen waiting, not hung forever.
    server = DripReceiver(pause=0.2, limit=6)
    yield server
    server.close()


def test_a_receiver_that_drips_its_answer_cannot_hold_a_worker_past_the_timeout(
    account, verified_domain, drip_receiver, settings
):
    settings.SES_CALLBACK_TIMEOUT_SECONDS = 1
    services.save_endpoint(account, drip_receiver.url)
    delivery = services.queue_callback(make_message(verified_domain, "reader@example.org"), "opened", {})

    started = time.monotonic()
    result = services.attempt_delivery(delivery.pk)
    seconds = time.monotonic() - started

    assert drip_receiver.connections == 1
    assert seconds < 2.5  # one second of budget, plus the time to notice
    assert result.status == CallbackDelivery.PENDING and result.last_status_code is None
    assert "no answer within 1 s" in result.last_error
    assert result.next_attempt_at is not None  # retried later, like any unreachable receiver


def test_addresses_that_drop_the_connection_share_the_attempt_s_one_time_budget(drip_receiver, settings, monkeypatch):
    # A customer's DNS may answer several addresses that never answer a SYN, then a receiver that
    # drips: each address used to get a whole timeout, and the drip after them no bound at all.
    settings.SES_CALLBACK_TIMEOUT_SECONDS = 1
    connect = socket.create_connection

    def unanswered_then_real(address, timeout=None, **kwargs):
        if address[0].startswith("192.0.2."):  # TEST-NET-1: stands in for a host that drops SYNs
            time.sleep(timeout)
            raise TimeoutError("timed out")
        return connect(address, timeout=timeout, **kwargs)

    monkeypatch.setattr(socket, "create_connection", unanswered_then_real)
    port = int(drip_receiver.url.split(":")[2].split("/")[0])
    target = destinations.Destination("http", "hooks.example", port, "/hooks/ses", ("192.0.2.1", "192.0.2.2", "127.0.0.1"))

    started = time.monotonic()
    with pytest.raises(destinations.TooSlow):
        destinations.post(target, b"{}", {"Content-Type": "application/json"})
    seconds = time.monotonic() - started

    assert drip_receiver.connections == 0  # the budget was spent before the third address
    assert seconds < 2.5


# --- https: the original name for SNI and the certificate ----------------------------------------


def _certificate(common_name: str, issuer=None, issuer_key=None, ca: bool = False):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
    else:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    return builder.sign(issuer_key or key, hashes.SHA256()), key


class TlsReceiver(Receiver):
    """The receiver behind TLS with a certificate for `name` from a test CA; it notes the SNI it got."""

    def __init__(self, tmp_path, name: str):
        from cryptography.hazmat.primitives import serialization

        super().__init__(200)
        ca, ca_key = _certificate("Test CA", ca=True)
        leaf, leaf_key = _certificate(name, issuer=ca, issuer_key=ca_key)
        pem = serialization.Encoding.PEM
        (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
        (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem) + leaf_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.ca_file = str(tmp_path / "ca.pem")
        self.server_names: list[str | None] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tmp_path / "leaf.pem"))
        context.sni_callback = lambda sock, server_name, ctx: self.server_names.append(server_name)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    server = TlsReceiver(tmp_path, "hooks.tls.example")
    # Production trusts the system's CAs; here, the test CA that signed the receiver's certificate.
    monkeypatch.setattr(destinations, "_tls_context", lambda: ssl.create_default_context(cafile=server.ca_file))
    yield server
    server.close()


def test_an_https_callback_sends_the_original_name_for_sni_and_verifies_the_certificate_for_it(
    account, verified_domain, dns_stub, tls_receiver, django_capture_on_commit_callbacks
):
    dns_stub.set_addresses("hooks.tls.example", "127.0.0.1")
    services.save_endpoint(account, f"https://hooks.tls.example:{tls_receiver.port}/hooks/ses")

    delivery = send_one_event(verified_domain, django_capture_on_commit_callbacks)

    assert (delivery.status, delivery.last_status_code) == (CallbackDelivery.DELIVERED, 200)
    assert tls_receiver.server_names == ["hooks.tls.example"]
    assert tls_receiver.requests[0]["headers"]["Host"] == f"hooks.tls.example:{tls_receiver.port}"


def test_an_https_callback_to_a_name_the_certificate_does_not_cover_is_not_sent(
    account, verified_domain, dns_stub, tls_receiver, django_capture_on_commit_callbacks
):
    dns_stub.set_addresses("hooks.other.example", "127.0.0.1")  # same machine, another name
    services.save_endpoint(account, f"https://hooks.other.example:{tls_receiver.port}/hooks/ses")

    delivery = send_one_event(verified_domain, django_capture_on_commit_callbacks)

    assert delivery.status == CallbackDelivery.PENDING
    assert "CERTIFICATE_VERIFY_FAILED" in delivery.last_error or "certificate" in delivery.last_error.lower()
    assert tls_receiver.requests == []


# --- Staff edits in admin go through the same check ----------------------------------------------


def test_staff_cannot_point_an_endpoint_at_a_nat64_form_of_loopback_in_admin(
    client, staff_user, account, dns_stub, private_networks_refused
):
    dns_stub.set_addresses("hooks.alice.example", PUBLIC)
    endpoint, _ = services.save_endpoint(account, "https://hooks.alice.example/ses")
    client.login(username=staff_user.username, password="staff pass 42")
    page = f"/admin/notify/callbackendpoint/{endpoint.pk}/change/"
    form = {"account": account.pk, "enabled": "on", "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
            "updated_at_0": "2026-01-01", "updated_at_1": "00:00:00"}

    refused = client.post(page, {**form, "url": "http://[64:ff9b::7f00:1]/"})
    accepted = client.post(page, {**form, "url": "https://hooks.alice.example/v2"})

    assert refused.status_code == 200 and b"inside the platform&#x27;s network" in refused.content
    assert accepted.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.alice.example/v2"
