"""Where an event callback may go, and the one connection that goes there (SPEC §6.1).

Customers choose callback URLs, so without care our workers would POST wherever a customer points
them, the installation's own network included (loopback, private ranges, a cloud metadata service).
Three rules close that:

1. Every IPv6 form that carries an IPv4 address is judged by that IPv4 address too: Python calls
   `64:ff9b::7f00:1` (NAT64 of 127.0.0.1) and `::127.0.0.1` global.
2. A host name is resolved once per attempt, every address it resolves to is checked, and the
   connection goes to a checked address, with the original Host header and, for https, the
   original name for SNI and the certificate check: a name that answers a public address to the
   check and 127.0.0.1 to the connection (DNS rebinding) reaches nothing.
3. A whole attempt (connect, TLS, request, response head) ends after SES_CALLBACK_TIMEOUT_SECONDS,
   however slowly the receiver drips its bytes: a worker is never held longer.

SES_CALLBACK_ALLOW_PRIVATE_NETWORKS turns off the address check (rule 1), never the pinning.

- embedded_ipv4(ip): the IPv4 addresses an IPv6 address carries.
- refusal(ip): why an address is not a public one, or "".
- resolve(host): every address of a host, asked once.
- destination(url): resolved, checked and pinned (Malformed / Unresolvable / Refused otherwise).
- post(destination, body, headers): one bounded POST to the pinned address; (status, reason).
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass

from django.conf import settings

from domains import dns

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The IPv6 ranges whose addresses carry an IPv4 address in their last 32 bits.
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible (RFC 4291 §2.5.5.1)
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765 §2.1, SIIT)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
# Local-use NAT64 (RFC 8215): the operator picks the prefix length, so the IPv4 address may sit in
# any place RFC 6052 §2.2 allows for a /48 or longer prefix; every such place must be public.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_NAT64_LOCAL_LENGTHS = (48, 56, 64, 96)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_SAFE = "%:/?#[]@!$&'()*+,;="  # RFC 3986 reserved characters, and escapes already made


class Malformed(ValueError):
    """Not a URL a request can be made to (a control character, port 0, no host)."""


class Unresolvable(ValueError):
    """The host name has no address."""


class Refused(ValueError):
    """The URL leads into the platform's network."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # as the Host header and the certificate name it (IDNA A-label, or the address)
    port: int
    target: str  # path and query
    addresses: tuple[str, ...]  # every address the host resolved to, all checked, in order


def _ipv4(bits: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(bits & 0xFFFF_FFFF)


def _rfc6052(value: int, prefix: int) -> ipaddress.IPv4Address:
    """The IPv4 address at the place RFC 6052 gives it behind a prefix of `prefix` bits."""
    if prefix == 96:
        return _ipv4(value)
    # Bits 64-71 (the "u" octet) never carry address bits: take them out, then read 32 bits.
    without_u = ((value >> 72) << 64) | (value & ((1 << 64) - 1))
    return _ipv4(without_u >> (120 - prefix - 32))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses `ip` carries: mapped, translated, compatible, NAT64, 6to4 and Teredo (server and client)."""
    value = int(ip)
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _COMPATIBLE or ip in _NAT64 or ip in _TRANSLATED:
        found.append(_ipv4(value))
    if ip in _NAT64_LOCAL:
        found += [_rfc6052(value, length) for length in _NAT64_LOCAL_LENGTHS]
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found += list(ip.teredo)
    return found


def _public(ip: IPAddress) -> bool:
    return ip.is_global and not ip.is_multicast


def refusal(ip: IPAddress) -> str:
    """Why `ip` is not a public address (English, for the message and the delivery log), or ""."""
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in embedded_ipv4(ip):
            if not _public(inner):
                return f"{ip} carries {inner}, an address inside the platform's network"
    if not _public(ip):
        return f"{ip}, an address inside the platform's network"
    return ""


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def resolve(host: str) -> list[IPAddress]:
    """Every address of `host` (an address is its own answer); Unresolvable when there is none.

    Asked where domain verification asks when SES_DNS_NAMESERVERS is set, the system resolver
    (hosts file included) otherwise.
    """
    literal = _literal(host)
    if literal is not None:
        return [literal]
    if settings.SES_DNS_NAMESERVERS:
        found, error = dns.lookup_addresses(host)
    else:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            found, error = [], getattr(exc, "strerror", None) or str(exc)
        else:
            found, error = [info[4][0] for info in infos], ""
    addresses = list(dict.fromkeys(a for a in (_literal(f) for f in found) if a is not None))
    if not addresses:
        raise Unresolvable(f"{host} does not resolve to any address ({error or 'no address'})")
    return addresses


def destination(url: str) -> Destination:
    """The URL resolved once, every address checked, pinned: what post() connects to."""
    if _CONTROL.search(url):
        raise Malformed("the URL holds a control character")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise Malformed("not an http:// or https:// URL")
    try:
        port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
        host = parts.hostname if _literal(parts.hostname) else parts.hostname.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise Malformed("not a valid host and port") from None
    if not 0 < port < 65536:
        raise Malformed("not a valid port")
    addresses = resolve(host)
    if not settings.SES_CALLBACK_ALLOW_PRIVATE_NETWORKS:
        for address in addresses:
            why = refusal(address)
            if why:
                raise Refused(f"{host} resolves to {why}" if _literal(host) is None else why)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    target = urllib.parse.quote(target, safe=_URL_SAFE)  # a non-ASCII path, as a browser sends it
    return Destination(scheme, host, port, target, tuple(str(a) for a in addresses))


# --- The connection ------------------------------------------------------------------------------


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP to the checked addresses only; self.host stays the URL's host for the Host header."""

    def __init__(self, destination: Destination, timeout: float):
        super().__init__(destination.host, destination.port, timeout=timeout)
        self.pinned = destination.addresses
        self.deadline = time.monotonic() + timeout  # of the whole attempt, every address included
        self.aborted = False

    def _connect_pinned(self) -> socket.socket:
        error: OSError | None = None
        for address in self.pinned:  # never a name: nothing is resolved again
            left = self.deadline - time.monotonic()
            if left <= 0 or self.aborted:
                raise TimeoutError("the attempt's time ran out while connecting")
            try:
                sock = socket.create_connection((address, self.port), timeout=min(self.timeout, left))
            except OSError as exc:
                error = exc
                continue
            if self.aborted:  # the watchdog fired while we connected, before there was a socket to shut
                sock.close()
                raise TimeoutError("the attempt's time ran out while connecting")
            return sock
        raise error or OSError("no address to connect to")

    def connect(self) -> None:
        self.sock = self._connect_pinned()

    def abort(self) -> None:
        """Shut the socket from another thread: the read in progress returns at once (and a connect
        still in progress gives up once it returns)."""
        self.aborted = True
        sock = self.sock
        if sock is not None:
            try:
                # socket.socket's own shutdown, under SSLSocket's: the TLS object is left to its reader.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


class _PinnedTLSConnection(_PinnedConnection):
    default_port = 443

    def connect(self) -> None:
        raw = self._connect_pinned()
        # The original name for SNI and the certificate check; the handshake after self.sock is
        # set, so that abort() can end a receiver that drips its handshake too.
        self.sock = _tls_context().wrap_socket(raw, server_hostname=self.host, do_handshake_on_connect=False)
        if self.aborted:
            raise TimeoutError("the attempt's time ran out while connecting")
        self.sock.do_handshake()


class TooSlow(TimeoutError):
    pass


def post(destination: Destination, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST to the pinned address; (status, reason). The whole attempt ends within
    SES_CALLBACK_TIMEOUT_SECONDS (TooSlow); connection and protocol errors are raised as they come."""
    timeout = settings.SES_CALLBACK_TIMEOUT_SECONDS
    kind = _PinnedTLSConnection if destination.scheme == "https" else _PinnedConnection
    connection = kind(destination, timeout)
    lock = threading.Lock()
    state = {"finished": False, "aborted": False}

    def watchdog() -> None:
        # Each socket read has its own timeout, but a receiver sending a byte a second never trips
        # it: the total is bounded here.
        with lock:
            if not state["finished"]:
                state["aborted"] = True
                connection.abort()

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    try:
        connection.request("POST", destination.target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.reason
    except Exception as exc:
        if state["aborted"] or time.monotonic() >= connection.deadline:
            raise TooSlow(f"no answer within {timeout} s (took {time.monotonic() - started:.1f} s)") from exc
        raise
    finally:
        with lock:
            state["finished"] = True
        timer.cancel()
        connection.close()
