"""A real DNS server for tests: TXT, A and AAAA records from dicts, served over UDP on 127.0.0.1.

Verification goes through dnspython's resolver exactly as in production; only the server it asks
is ours. Unknown names answer NXDOMAIN, names set to fail answer SERVFAIL, and long values are split
into 255-byte character-strings as real zone files do, so the joining code is exercised too.
A name's addresses may change from one lookup to the next (set_addresses with several answers),
as a name does in a DNS rebinding attack.

Use the `dns_stub` fixture (enable it with `pytest_plugins = ["tests.dnsstub"]` in conftest.py).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

MAX_STRING = 255  # a TXT character-string is at most 255 bytes (RFC 1035 §3.3)


def split_txt(value: str) -> list[str]:
    """Split a value into the character-strings a zone publishes for it."""
    raw = value.encode()
    return [raw[i : i + MAX_STRING].decode() for i in range(0, len(raw), MAX_STRING)] or [""]


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


class DnsStub:
    """records: {name: [record, ...]}; each record is its list of character-strings."""

    def __init__(self) -> None:
        self.records: dict[str, list[list[str]]] = {}
        self.addresses: dict[str, list[list[str]]] = {}  # answers given in turn, the last one for good
        self._turns: dict[str, int] = {}
        self.failing: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))  # the OS picks a free port
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"dns-stub-{self.port}", daemon=True)

    # --- what the zone holds ----------------------------------------------------------------------

    def set_txt(self, name: str, *values: str | Iterable[str]) -> None:
        """Replace the TXT records at `name`: one record per value.

        A str value is split into 255-byte strings; a list/tuple is published as exactly those strings.
        """
        records = [split_txt(v) if isinstance(v, str) else list(v) for v in values]
        with self._lock:
            self.failing.discard(_key(name))
            self.records[_key(name)] = records

    def set_addresses(self, name: str, *answers: str | Iterable[str]) -> None:
        """The A and AAAA records of `name`. Each answer is an address or a list of them; the first
        A lookup gets the first answer, the next one the next, and the last answer stays (an AAAA
        lookup gets the answer of the A lookup before it)."""
        with self._lock:
            self.failing.discard(_key(name))
            self.addresses[_key(name)] = [[a] if isinstance(a, str) else list(a) for a in answers]
            self._turns[_key(name)] = 0

    def lookups(self, name: str) -> int:
        """How many times `name` was resolved (its A queries)."""
        return self.queries.count((_key(name), "A"))

    def remove(self, name: str) -> None:
        with self._lock:
            self.records.pop(_key(name), None)
            self.addresses.pop(_key(name), None)
            self.failing.discard(_key(name))

    def fail(self, name: str) -> None:
        """Answer SERVFAIL for `name` (a broken authoritative server)."""
        with self._lock:
            self.failing.add(_key(name))

    def publish(self, domain) -> None:
        """Publish exactly the records domains.services.records_for(domain) asks for."""
        from domains.services import records_for

        for record in records_for(domain):
            self.set_txt(record.host, record.value)

    # --- the server -------------------------------------------------------------------------------

    def start(self) -> DnsStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                wire, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue  # not DNS: a real server drops it too
            self._sock.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA | dns.flags.RA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = _key(question.name.to_text())
        self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
        with self._lock:
            if name in self.failing:
                response.set_rcode(dns.rcode.SERVFAIL)
                return response
            records = self.records.get(name)
            # A name with records below it exists (an "empty non-terminal"): NODATA, not NXDOMAIN.
            exists = (
                records is not None or name in self.addresses or any(k.endswith("." + name) for k in self.records)
            )
            if not exists:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return response
            if name in self.addresses and question.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                self._answer_addresses(response, question, name)
            if records and question.rdtype == dns.rdatatype.TXT:
                texts = [" ".join(_quoted(s) for s in strings) for strings in records]
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 300, dns.rdataclass.IN, dns.rdatatype.TXT, texts)
                )
        return response


    def _answer_addresses(self, response: dns.message.Message, question, name: str) -> None:
        answers = self.addresses[name]
        if question.rdtype == dns.rdatatype.A:
            turn = self._turns[name]
            self._turns[name] = turn + 1
        else:
            turn = max(self._turns[name] - 1, 0)
        family = 4 if question.rdtype == dns.rdatatype.A else 6
        found = [a for a in answers[min(turn, len(answers) - 1)] if ipaddress.ip_address(a).version == family]
        if found:
            rdtype = dns.rdatatype.to_text(question.rdtype)
            response.answer.append(dns.rrset.from_text_list(question.name, 0, dns.rdataclass.IN, rdtype, found))


def _quoted(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def dns_stub(settings):
    """A running DnsStub that the app's resolver asks (settings point at it for the test)."""
    stub = DnsStub().start()
    settings.SES_DNS_NAMESERVERS = ["127.0.0.1"]
    settings.SES_DNS_PORT = stub.port
    settings.SES_DNS_TIMEOUT = 2
    yield stub
    stub.stop()
