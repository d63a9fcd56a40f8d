"""DNS: the records a sender domain publishes, and a live check of each with dnspython.

expected_records lists SPF, DKIM, DMARC and the ownership record (VERIFICATION: a token of the
claiming account at VERIFICATION_LABEL.<domain>); check_records looks each up and says if it matches.

Where the resolver asks is settings (SES_DNS_NAMESERVERS / SES_DNS_PORT): the system resolver in
production, a local stub server in tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import dns.exception
import dns.resolver
from django.conf import settings

SPF = "SPF"
DKIM = "DKIM"
DMARC = "DMARC"
VERIFICATION = "VERIFICATION"
# The ownership record lives under its own label, so it never mixes with the domain's SPF TXT record.
VERIFICATION_LABEL = "_sesconsole"
VERIFICATION_PREFIX = "sesconsole-verification="


@dataclass(frozen=True)
class Record:
    """One TXT record the customer must publish."""

    kind: str  # SPF, DKIM, DMARC or VERIFICATION
    host: str  # the full DNS name
    value: str  # what to publish


@dataclass(frozen=True)
class CheckResult:
    kind: str
    host: str
    expected: str
    found: list[str]
    ok: bool
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def expected_records(domain_name: str, selector: str, public_key_b64: str, token: str) -> list[Record]:
    return [
        Record(SPF, domain_name, f"v=spf1 include:{settings.SES_SPF_INCLUDE} ~all"),
        Record(DKIM, f"{selector}._domainkey.{domain_name}", f"v=DKIM1; k=rsa; p={public_key_b64}"),
        Record(DMARC, f"_dmarc.{domain_name}", f"v=DMARC1; p=none; rua=mailto:dmarc@{domain_name}"),
        Record(VERIFICATION, f"{VERIFICATION_LABEL}.{domain_name}", f"{VERIFICATION_PREFIX}{token}"),
    ]


def _resolver() -> dns.resolver.Resolver:
    if settings.SES_DNS_NAMESERVERS:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(settings.SES_DNS_NAMESERVERS)
    else:
        resolver = dns.resolver.Resolver()
    resolver.port = settings.SES_DNS_PORT
    resolver.lifetime = settings.SES_DNS_TIMEOUT
    resolver.timeout = settings.SES_DNS_TIMEOUT
    return resolver


def lookup_txt(host: str, resolver: dns.resolver.Resolver | None = None) -> tuple[list[str], str]:
    """TXT strings at `host` (character-strings of one record joined) and an error text if the lookup failed."""
    resolver = resolver or _resolver()
    try:
        answer = resolver.resolve(host, "TXT")
    except dns.resolver.NXDOMAIN:
        return [], "no such name (NXDOMAIN)"
    except dns.resolver.NoAnswer:
        return [], "no TXT record"
    except dns.resolver.NoNameservers:
        return [], "no name server answered (SERVFAIL)"
    except dns.exception.Timeout:
        return [], "DNS lookup timed out"
    except dns.exception.DNSException as exc:
        return [], f"DNS error: {exc.__class__.__name__}"
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer], ""


def _matches(record: Record, txt: str) -> bool:
    value = txt.strip()
    if record.kind == SPF:
        terms = value.split()
        return bool(terms) and terms[0].lower() == "v=spf1" and f"include:{settings.SES_SPF_INCLUDE}" in terms
    if record.kind == DKIM:
        tags = dict(
            part.strip().split("=", 1) for part in value.split(";") if "=" in part
        )
        expected = dict(part.strip().split("=", 1) for part in record.value.split(";") if "=" in part)
        return "".join(tags.get("p", "").split()) == expected["p"]
    if record.kind == DMARC:
        return value.replace(" ", "").upper().startswith("V=DMARC1;") or value.upper() == "V=DMARC1"
    if record.kind == VERIFICATION:
        # Exactly this account's token: another account's record at the same name proves nothing for it.
        return value == record.value
    return False


def check_records(records: list[Record]) -> list[CheckResult]:
    """Look each record up and say whether what is published matches what is expected."""
    resolver = _resolver()
    results = []
    for record in records:
        found, error = lookup_txt(record.host, resolver)
        if record.kind == SPF:
            found = [t for t in found if t.lower().startswith("v=spf1")] or found
        ok = any(_matches(record, txt) for txt in found)
        if not ok and not error:
            error = "published value does not match" if found else "no TXT record"
        results.append(CheckResult(record.kind, record.host, record.value, found, ok, "" if ok else error))
    return results


def lookup_addresses(host: str) -> tuple[list[str], str]:
    """The A and AAAA addresses of `host` (IPv4 first), and an error text when there are none.

    Asked where verification asks (SES_DNS_NAMESERVERS); notify.destinations uses it for callback
    hosts when those servers are set, the system resolver otherwise.
    """
    resolver = _resolver()
    addresses, errors = [], []
    for rdtype in ("A", "AAAA"):
        try:
            addresses += [rdata.address for rdata in resolver.resolve(host, rdtype)]
        except dns.resolver.NXDOMAIN:
            return [], "no such name (NXDOMAIN)"
        except dns.resolver.NoAnswer:
            errors.append(f"no {rdtype} record")
        except dns.resolver.NoNameservers:
            errors.append("no name server answered (SERVFAIL)")
        except dns.exception.Timeout:
            errors.append("DNS lookup timed out")
        except (dns.exception.DNSException, UnicodeError) as exc:
            errors.append(f"DNS error: {exc.__class__.__name__}")
    return addresses, "" if addresses else ", ".join(dict.fromkeys(errors))
