"""Internationalised addresses: what goes on the envelope and in the headers is ASCII.

The platform does not offer SMTPUTF8 (RFC 6531), so an address must be sendable as ASCII:
- a non-ASCII domain (`user@bücher.example`) becomes its IDNA A-label (`user@xn--bcher-kva.example`),
  IDNA 2008 with the UTS #46 mapping (non-transitional: `ß` stays `ß`, as browsers and registries
  resolve it), which is the name DNS knows and what RCPT TO and the To header carry;
- a non-ASCII local part (`jörg@example.com`) has no ASCII form: the address is refused;
- a domain IDNA refuses (`☃.example`, a label with `_`, an empty or too long label) is refused.
An RFC 2047 encoded word is never a valid addr-spec (RFC 5322 §3.2.3, RFC 2047 §5), so there is no
other way to carry such an address.
"""

from __future__ import annotations

import idna

_MAX_LENGTH = 254  # RFC 5321's path limit


class NotAsciiAddress(ValueError):
    """The address cannot be written in ASCII: its local part is not ASCII, or IDNA refuses its domain."""


def domain_to_ascii(domain: str) -> str:
    """A domain name as DNS knows it: a non-ASCII one as its IDNA A-labels (IDNA 2008 with the UTS #46
    mapping, non-transitional), an ASCII one unchanged. The one conversion of domains, addresses,
    sender domains and typed filters. Raises NotAsciiAddress when IDNA refuses the name."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
        raise NotAsciiAddress(domain) from None


def to_ascii(address: str) -> str:
    """`address` with its domain as IDNA A-labels (unchanged when it is ASCII already).

    Only the part after the last "@" is converted; the local part is kept as it is, so an ASCII
    address comes back identical. Raises NotAsciiAddress when there is no ASCII form.
    """
    if address.isascii():
        return address
    if len(address) > _MAX_LENGTH:  # its A-label form is never shorter: no need to convert it
        raise NotAsciiAddress(address[:_MAX_LENGTH])
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        raise NotAsciiAddress(address)
    try:
        return f"{local}@{domain_to_ascii(domain)}"
    except NotAsciiAddress:
        raise NotAsciiAddress(address) from None


def address_search_texts(typed: str) -> list[str]:
    """What to look for when a person searches stored addresses for a part of one (`bücher`,
    `@bücher.example`, `ann@bücher`): the text as typed and, when it has a non-ASCII domain part,
    that part with each non-ASCII label written as its IDNA A-label (`xn--bcher-kva`), so it finds
    addresses stored as clean_address stores them. A text that has no such form (a non-ASCII local
    part, a label IDNA refuses) is searched as typed only. A label typed only in part has an
    A-label of its own, not a part of the whole label's: it finds nothing but rows stored as typed."""
    text = typed.strip()
    if not text:
        return []
    if text.isascii():
        return [text]
    local, at, domain = text.rpartition("@")  # no "@": all of it may be part of a domain
    if not local.isascii():
        return [text]
    try:
        # The mapping first (it turns "。" into "."), then each label as domain_to_ascii writes it.
        mapped = idna.uts46_remap(domain, std3_rules=False, transitional=False)
        labels = [domain_to_ascii(label) for label in mapped.split(".")]
    except (UnicodeError, NotAsciiAddress):  # idna.IDNAError is a UnicodeError
        return [text]
    converted = f"{local}{at}{'.'.join(labels)}"
    return [text] if converted.lower() == text.lower() else [text, converted]


def is_simulator_address(address: str, simulator_domain: str) -> bool:
    """Whether the address is at the mailbox simulator's domain (SPEC §4.4), in any case, with or
    without angle brackets or a final dot."""
    local, at, domain = address.strip().strip("<>").strip().rpartition("@")
    return bool(at) and domain.lower().rstrip(".") == simulator_domain.lower().rstrip(".")
