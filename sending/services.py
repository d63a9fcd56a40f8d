"""Sending services: sender addresses, templates and their review, the blacklist, and send_email.

The API actions and the console forms parse input and call these; every rule and every error code
lives here. An error is a SendError carrying the SDK's code (tencentcloud.ses.v20201002.errorcodes)
and a message a person can act on, raised before anything is written.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Account
from accounts.staff import log_staff_action
from core import unusable
from core.addresses import address_search_texts
from core.clock import platform_today
from core.prepared import convert_row, execute_prepared, model_columns
from domains.models import SenderDomain
from domains.reputation.services import reserve_quota
from sending import review, review_text
from sending.models import Message, SenderAddress, SensitiveWord, Suppression, Template
from sending.writer import Recipient, write_messages

# Limits of one SendEmail call (SPEC §4, the SDK's documented limits).
MAX_DESTINATIONS = 50
MAX_CC = 20
MAX_BCC = 20
# The SDK documents 800 bytes for the template data of one recipient (TemplateDataLenLimit).
MAX_TEMPLATE_DATA_BYTES = 800
MAX_TEMPLATE_NAME = 100
MAX_SUBJECT = 500
MAX_DISPLAY_NAME = 100
# HTML + text of one template; a real mail is far smaller, and every send renders it again.
MAX_TEMPLATE_CONTENT_BYTES = 1024 * 1024
# The Unsubscribe option of SendEmail: 0 none, 1 zh-CN, 2 en … 12 vi (the SDK's list).
UNSUBSCRIBE_OPTIONS = range(0, 13)

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Characters no text may carry (NUL, controls, lone surrogates…); CR and LF are checked beside it
# where a value becomes a mail header.
_CONTROL = unusable.UNUSABLE


class SendError(Exception):
    """A refusal with the SDK's error code; nothing was written."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SendResult:
    request_id: str
    message_ids: list[str]


# --- addresses -------------------------------------------------------------------------------------


def clean_address(raw: object, code: str = "InvalidParameterValue.IllegalEmailAddress", what: str = "address") -> str:
    """A syntactically valid address, lower-cased (mailbox providers treat case as the same address).

    A non-ASCII domain becomes its IDNA A-label (user@bücher.example → user@xn--bcher-kva.example),
    the form RCPT TO and the To header carry; a non-ASCII local part, or a domain IDNA refuses, is
    not a valid address here (no SMTPUTF8; see core/addresses.py).
    """
    from core import addresses

    if not isinstance(raw, str) or not raw.strip():
        raise SendError("InvalidParameterValue.EmailAddressIsNULL", gettext("The %(what)s is empty.") % {"what": what})
    address = raw.strip()
    try:
        try:
            ascii_address = addresses.to_ascii(address)
        except addresses.NotAsciiAddress:
            raise ValidationError("no ASCII form") from None
        validate_email(ascii_address)
        if len(ascii_address) > 254:  # RFC 5321's path limit; longer would not fit the columns either
            raise ValidationError(gettext("too long"))
    except ValidationError:
        raise SendError(code, gettext("“%(value)s” is not a valid email address.") % {"value": address[:254]}) from None
    return ascii_address.lower()


def _clean_display_name(raw: str) -> str:
    name = (raw or "").strip()
    # A colon, angle brackets or quotes would change the meaning of the From header.
    if len(name) > MAX_DISPLAY_NAME or _CONTROL.search(name) or any(c in name for c in ':<>"\r\n'):
        raise SendError(
            "InvalidParameterValue.IllegalSenderName",
            gettext("The sender name must be at most %(MAX_DISPLAY_NAME)s characters, without : < > \" or line breaks.") % {"MAX_DISPLAY_NAME": MAX_DISPLAY_NAME},
        )
    return name


def review_sender_name(name: str, rules: review.SendRules) -> None:
    """Refuse a sender (From display) name that breaks a content rule (SPEC §4.1): every recipient
    reads it beside the subject, so it is reviewed like what a send carries (review.review_send)."""
    if not name:
        return
    verdict = review.review_send(rules, {"sender_name": name})
    if not verdict.approved:
        raise SendError(
            "InvalidParameterValue.IllegalSenderName",
            gettext("The sender name breaks a content rule: %(reason)s")
            % {"reason": review_text.translate_reason(verdict.reason).replace("\n", " ")},
        )


def create_sender_address(account: Account, email_address: str, display_name: str = "") -> SenderAddress:
    """An address on one of the account's verified domains, at most SES_MAX_SENDER_ADDRESSES of them;
    its display name reviewed (review_sender_name)."""
    email = clean_address(email_address, what="sender address")
    name = _clean_display_name(display_name)
    review_sender_name(name, current_send_rules())
    domain_name = email.rsplit("@", 1)[1]
    # Domain names are unique across accounts, so another tenant's domain reads as "not created".
    domain = SenderDomain.objects.filter(account=account, name=domain_name).first()
    if domain is None:
        raise SendError(
            "InvalidParameterValue.NotExistDomain",
            gettext("%(domain_name)s is not one of your sender domains; create and verify it first.") % {"domain_name": domain_name},
        )
    if not domain.is_verified:
        raise SendError("OperationDenied.DomainNotVerified", gettext("%(domain_name)s is not verified yet; publish its DNS records first.") % {"domain_name": domain_name})
    limit = settings.SES_MAX_SENDER_ADDRESSES
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=account.pk).first()  # one creator at a time per account
        if SenderAddress.objects.filter(email=email).exists():
            raise SendError("InvalidParameterValue.RepeatEmailAddress", gettext("%(email)s already exists.") % {"email": email})
        if SenderAddress.objects.filter(account=account).count() >= limit:
            raise SendError(
                "OperationDenied.ExceedSenderLimit",
                gettext("An account may have at most %(limit)s sender addresses; delete one first.") % {"limit": limit},
            )
        try:
            with transaction.atomic():
                return SenderAddress.objects.create(account=account, domain=domain, email=email, display_name=name)
        except IntegrityError:  # created by a concurrent request since our check
            raise SendError("InvalidParameterValue.RepeatEmailAddress", gettext("%(email)s already exists.") % {"email": email}) from None


def sender_address_for_account(account: Account, email_address: str) -> SenderAddress:
    """The account's sender address a person typed, in either of address_lookup_forms' forms: one
    with a non-ASCII domain (`news@bücher.example`) finds the row stored as its IDNA A-label, and an
    older row stored as typed. Should both exist, the row written exactly as typed is the one meant."""
    email = (email_address or "").strip().lower()
    forms = address_lookup_forms(email)
    addresses = list(SenderAddress.objects.filter(account=account, email__in=forms).select_related("domain")[:2])
    if not addresses:
        raise _no_such_sender(email)
    return next((address for address in addresses if address.email == email), addresses[0])


def _no_such_sender(email: str) -> SendError:
    return SendError("InvalidParameterValue.NoSuchSender", gettext("“%(value)s” is not one of your sender addresses.") % {"value": email[:254]})


def delete_sender_address(account: Account, email_address: str) -> None:
    address = sender_address_for_account(account, email_address)
    try:
        address.delete()
    except ProtectedError:  # batch tasks sent from it keep it as their record
        raise SendError(
            "OperationDenied",
            gettext("Batch tasks have been sent from %(email)s: it stays as their record.") % {"email": address.email},
        ) from None


# --- templates -------------------------------------------------------------------------------------


def template_for_account(account: Account, template_id: object, code: str = "InvalidParameterValue.TemplateNotExist") -> Template:
    """The account's template, or the not-found error (another tenant's id reads as "does not exist")."""
    template = None
    if isinstance(template_id, int) and not isinstance(template_id, bool):
        template = Template.objects.filter(account=account, pk=template_id).first()
    if template is None:
        raise _no_such_template(template_id, code)
    return template


def _no_such_template(template_id: object, code: str = "InvalidParameterValue.TemplateNotExist") -> SendError:
    return SendError(code, gettext("Template %(template_id)s does not exist.") % {"template_id": template_id})


def _validate_template(name: str, subject: str, html: str, text: str) -> None:
    if not (name or "").strip():
        raise SendError("InvalidParameterValue.TemplateNameIsNULL", gettext("The template name must not be empty."))
    if len(name) > MAX_TEMPLATE_NAME or _CONTROL.search(name) or "\n" in name:
        raise SendError(
            "InvalidParameterValue.TemplateNameIllegal",
            gettext("The template name must be one line of at most %(MAX_TEMPLATE_NAME)s characters.") % {"MAX_TEMPLATE_NAME": MAX_TEMPLATE_NAME},
        )
    if len(subject) > MAX_SUBJECT or "\n" in subject or "\r" in subject:
        raise SendError(
            "InvalidParameterValue.SubjectLengthError", gettext("The subject must be one line of at most %(MAX_SUBJECT)s characters.") % {"MAX_SUBJECT": MAX_SUBJECT}
        )
    if not (html or "").strip() and not (text or "").strip():
        raise SendError("InvalidParameterValue.TemplateContentIsNULL", gettext("A template needs an HTML or a text part."))
    if len(html.encode()) + len(text.encode()) > MAX_TEMPLATE_CONTENT_BYTES:
        raise SendError(
            "FailedOperation.TemplateContentToolarge",
            gettext("The template content is larger than %(value)s KiB.") % {"value": MAX_TEMPLATE_CONTENT_BYTES // 1024},
        )
    # The API's HTML and text arrive base64-encoded, past the check of the request's strings.
    for part in (subject, html, text):
        if _CONTROL.search(part):
            char = unusable.code_point(part[unusable.first(part)])
            raise SendError(
                "InvalidParameterValue.TemplateContentIsWrong",
                gettext("The template content contains %(char)s, a character that cannot be used.") % {"char": char},
            )
    errors = review.placeholder_errors(subject, html, text, gettext)
    if errors:
        raise SendError("InvalidParameterValue.TemplateContentIsWrong", " ".join(errors))


def current_send_rules() -> review.SendRules:
    """The rules review.review_send applies, for the sensitive-word list as it is now (one query)."""
    return review.send_rules(SensitiveWord.objects.values_list("word", flat=True))


def _apply_review(template: Template) -> None:
    words = list(SensitiveWord.objects.values_list("word", flat=True))
    result = review.review(
        template.subject, template.html, template.text, sensitive_words=words, transactional=template.transactional
    )
    template.status = Template.APPROVED if result.approved else Template.REJECTED
    template.review_reason = review.ReviewResult(review.REJECTED, result.rejections).reason
    template.review_warnings = review.ReviewResult(review.APPROVED, [], result.warnings).reason
    template.reviewed_by = "automatic"


def create_template(
    account: Account, *, name: str, subject: str = "", html: str = "", text: str = "", transactional: bool = False
) -> Template:
    """A new template, reviewed at once: approved (0) or rejected (2) with its reasons (SPEC §4.1)."""
    name, subject, html, text = (name or "").strip(), (subject or "").strip(), html or "", text or ""
    _validate_template(name, subject, html, text)
    template = Template(account=account, name=name, subject=subject, html=html, text=text, transactional=transactional)
    _apply_review(template)
    template.save()
    return template


def update_template(
    template: Template, *, name: str | None = None, subject: str | None = None, html: str | None = None,
    text: str | None = None, transactional: bool | None = None,
) -> Template:
    """Change what is given and review again: every edit goes through the review, staff verdicts too."""
    new_name = template.name if name is None else name.strip()
    new_subject = template.subject if subject is None else subject.strip()
    new_html = template.html if html is None else html
    new_text = template.text if text is None else text
    _validate_template(new_name, new_subject, new_html, new_text)
    template.name, template.subject, template.html, template.text = new_name, new_subject, new_html, new_text
    if transactional is not None:
        template.transactional = transactional
    _apply_review(template)
    template.updated_at = timezone.now()
    template.save()
    return template


def delete_template(template: Template) -> None:
    try:
        template.delete()
    except ProtectedError:  # batch tasks sent with it keep it as their record
        raise SendError(
            "OperationDenied",
            gettext("Batch tasks have been sent with template %(name)s: it stays as their record.")
            % {"name": template.name},
        ) from None


def set_template_status(template: Template, status: int, staff_user, note: str) -> Template:
    """Staff override the automatic verdict either way (SPEC §4.1); logged with the reason."""
    if status not in dict(Template.STATUSES):
        raise SendError("InvalidParameterValue", gettext("%(status)s is not a template status.") % {"status": status})
    note = (note or "").strip()
    if status == Template.REJECTED and not note:
        raise SendError("InvalidParameterValue", gettext("Say why the template is rejected: the customer reads it."))
    label = dict(Template.STATUSES)[status]
    with transaction.atomic():
        template.status = status
        if status == Template.REJECTED:
            template.review_reason = f"[staff] {note}"
        elif status == Template.APPROVED:
            template.review_reason = ""
        template.reviewed_by = staff_user.get_username() if staff_user is not None else "staff"
        template.save(update_fields=["status", "review_reason", "reviewed_by"])
        log_staff_action(
            staff_user, f"template_{label.lower().replace(' ', '_')}",
            f"template {template.pk} “{template.name}” of {template.account}", note,
        )
    return template


# --- the blacklist ----------------------------------------------------------------------------------


def address_lookup_forms(typed: str) -> set[str]:
    """The forms under which an address a person typed may be stored, lower-cased: its IDNA A-label
    form (what clean_address stores: `user@bücher.example` → `user@xn--bcher-kva.example`) and the
    text as typed (rows written before addresses were stored as A-labels; an address with no ASCII
    form). Empty for an empty text."""
    from core import addresses

    text = typed.strip()
    if not text:
        return set()
    forms = {text.lower()}
    try:
        forms.add(addresses.to_ascii(text).lower())
    except addresses.NotAsciiAddress:
        pass
    return forms


def address_contains(field: str, typed: str) -> Q:
    """A filter on the address column `field`: it contains what the person typed, in any of
    address_search_texts' forms (case-insensitive). Matches everything for an empty text."""
    q = Q()
    for text in address_search_texts(typed):
        q |= Q(**{f"{field}__icontains": text})
    return q


def address_is(field: str, typed: str) -> Q:
    """A filter on the address column `field`: it is the address a person typed, in either of
    address_lookup_forms' forms (case-insensitive). Matches nothing for an empty text."""
    forms = address_lookup_forms(typed)
    if not forms:
        return Q(pk__in=[])
    q = Q()
    for form in sorted(forms):
        q |= Q(**{f"{field}__iexact": form})
    return q


def remove_from_blacklist(account: Account, emails: Iterable[str]) -> int:
    """Take addresses off the account's blacklist; returns how many were on it.

    An address typed with a non-ASCII domain finds its entry, stored as the IDNA A-label (and an
    older entry stored as typed)."""
    wanted = set()
    for email in emails:
        if isinstance(email, str):
            wanted |= address_lookup_forms(email)
    deleted, _ = Suppression.objects.filter(account=account, reason=Suppression.BLACKLIST, email__in=wanted).delete()
    return deleted


# --- sending ---------------------------------------------------------------------------------------


def render_placeholders(text: str, data: Mapping[str, str]) -> str:
    """{{name}} → its value, in one pass: the result is what is delivered (a value's own "{{b}}" stays
    text). A platform placeholder without a value stays for delivery to fill; any other becomes ""."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in data:
            return data[name]
        return match.group(0) if platform_placeholder(name) else ""

    return _PLACEHOLDER.sub(value, text or "")


def platform_placeholder(name: str) -> bool:
    """Placeholders the platform fills at delivery (the unsubscribe link); the sender need not supply them."""
    return "unsub" in name.lower()


def _parse_from(raw: str) -> tuple[str, str]:
    """'addr' or 'Name <addr>' (the SDK's form) → (name, addr)."""
    raw = (raw or "").strip()
    if not raw:
        raise SendError("InvalidParameterValue.EmailAddressIsNULL", gettext("FromEmailAddress is empty."))
    if _CONTROL.search(raw) or "\n" in raw or "\r" in raw:
        raise SendError("FailedOperation.IncorrectSender", gettext("FromEmailAddress must be one line."))
    if "<" in raw or ">" in raw:
        match = re.fullmatch(r"(.*?)\s*<([^<>]+)>", raw)
        if not match:
            raise SendError("FailedOperation.IncorrectSender", gettext("Write the sender as address or as Name <address>."))
        name, address = match.group(1).strip().strip('"').strip(), match.group(2).strip()
        if ":" in name:
            raise SendError("InvalidParameterValue.IllegalSenderName", gettext("The sender name must not contain a colon."))
        name = _clean_display_name(name)
    else:
        name, address = parseaddr(raw)[0], raw
    return name, clean_address(address, code="FailedOperation.IncorrectSender", what="sender address")


def _clean_recipients(destinations, cc, bcc) -> list[tuple[str, str]]:
    """[(address, kind)] without duplicates (the first mention wins), each one validated."""
    destinations, cc, bcc = list(destinations or []), list(cc or []), list(bcc or [])
    if not destinations:
        raise SendError("MissingParameter.EmailsNecessary", gettext("Destination needs at least one recipient."))
    for kind, addresses, limit in (("Destination", destinations, MAX_DESTINATIONS), ("Cc", cc, MAX_CC), ("Bcc", bcc, MAX_BCC)):
        if len(addresses) > limit:
            raise SendError("FailedOperation.TooManyRecipients", gettext("%(kind)s allows at most %(limit)s addresses; got %(count)s.") % {"kind": kind, "limit": limit, "count": len(addresses)})
    seen: dict[str, str] = {}
    for kind, addresses in (("to", destinations), ("cc", cc), ("bcc", bcc)):
        for raw in addresses:
            address = clean_address(raw, code="InvalidParameterValue.ReceiverEmailInvalid", what="recipient address")
            seen.setdefault(address, kind)
    return list(seen.items())


def _clean_template_data(data: object, needed: set[str], rules: review.SendRules) -> dict[str, str]:
    if isinstance(data, str):
        try:
            data = json.loads(data) if data.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            raise SendError("InvalidParameterValue.TemplateDataError", gettext("TemplateData must be a JSON object.")) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise SendError("InvalidParameterValue.TemplateDataError", gettext("TemplateData must be a JSON object."))
    # Measured before the names and values are checked: a lone surrogate, refused next, has no UTF-8.
    if len(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")) > MAX_TEMPLATE_DATA_BYTES:
        raise SendError(
            "InvalidParameterValue.TemplateDataLenLimit", gettext("TemplateData is larger than %(MAX_TEMPLATE_DATA_BYTES)s bytes.") % {"MAX_TEMPLATE_DATA_BYTES": MAX_TEMPLATE_DATA_BYTES}
        )
    errors = review.template_data_errors(data, gettext)
    if errors:
        raise SendError("InvalidParameterValue.InValidTemplateData", " ".join(errors))
    # Values go into approved content: they must not carry what the review refuses in a template.
    verdict = review.review_send(rules, data)
    if not verdict.approved:
        raise SendError("InvalidParameterValue.InValidTemplateData", review_text.translate_reason(verdict.reason).replace("\n", " "))
    missing = sorted(name for name in needed if name not in data and not platform_placeholder(name))
    if missing:
        names = ", ".join(missing)
        raise SendError("InvalidParameterValue.TemplateNotMatchData", gettext("TemplateData has no value for %(names)s.") % {"names": names})
    return dict(data)


@dataclass(frozen=True)
class _AdmissionFacts:
    """What send_email's checks read from the database, read at once."""

    sender: SenderAddress | None  # the account's address (its domain loaded), None if it has none such
    template: Template | None  # the account's template of that id
    sensitive_words: list[str]
    frozen: bool  # a freeze in force today
    # (address, reason) for each of the recipients' blacklist and unsubscribe rows: a set, since one
    # address can have both rows and which comes first must not decide the refusal (send_email).
    suppressed: frozenset[tuple[str, str]]


_BIGINT = range(-(2**63), 2**63)


def _template_pk(template_id: object) -> int | None:
    if isinstance(template_id, int) and not isinstance(template_id, bool) and template_id in _BIGINT:
        return template_id
    return None


def _facts_by_orm(account: Account, email: str, template_id: object, addresses: list[str]) -> _AdmissionFacts:
    pk = _template_pk(template_id)
    return _AdmissionFacts(
        sender=SenderAddress.objects.filter(account=account, email=email).select_related("domain").first(),
        template=None if pk is None else Template.objects.filter(account=account, pk=pk).first(),
        sensitive_words=list(SensitiveWord.objects.values_list("word", flat=True)),
        frozen=account.is_frozen(),
        suppressed=frozenset(
            Suppression.objects.filter(account=account, email__in=addresses).values_list("email", "reason")
        ),
    )


class _AdmissionQuery:
    """_facts_by_orm's five queries as one PostgreSQL statement, its SQL written once per database
    (every SendEmail runs it; building five querysets cost more than running them)."""

    _MODELS = (("sa", SenderAddress), ("d", SenderDomain), ("t", Template))

    def __init__(self):
        self._compiled: dict[str, tuple] = {}

    def _compile(self, alias: str) -> tuple:
        from django.db import connections

        from accounts.models import AccountFreeze

        connection = connections[alias]
        q = connection.ops.quote_name
        columns, converters = model_columns(connection, self._MODELS)
        sa, d, t, w = SenderAddress._meta, SenderDomain._meta, Template._meta, SensitiveWord._meta
        f, s = AccountFreeze._meta, Suppression._meta

        def c(meta, name):
            return q(meta.get_field(name).column)

        sql = (
            f"SELECT {', '.join(columns)}, "
            f"ARRAY(SELECT w.{c(w, 'word')} FROM {q(w.db_table)} w ORDER BY w.{c(w, 'word')}), "
            f"EXISTS(SELECT 1 FROM {q(f.db_table)} f WHERE f.{c(f, 'account')} = %(account)s::bigint "
            f"AND f.{c(f, 'day')} = %(day)s::date AND f.{c(f, 'lifted_at')} IS NULL), "
            f"ARRAY(SELECT ARRAY[s.{c(s, 'email')}::text, s.{c(s, 'reason')}::text] FROM {q(s.db_table)} s "
            f"WHERE s.{c(s, 'account')} = %(account)s::bigint AND s.{c(s, 'email')} = ANY(%(emails)s::text[])) "
            f"FROM (VALUES (1)) AS one (x) "
            f"LEFT JOIN {q(sa.db_table)} sa ON sa.{c(sa, 'account')} = %(account)s::bigint "
            f"AND sa.{c(sa, 'email')} = %(email)s::text "
            f"LEFT JOIN {q(d.db_table)} d ON d.{q(d.pk.column)} = sa.{c(sa, 'domain')} "
            f"LEFT JOIN {q(t.db_table)} t ON t.{c(t, 'account')} = %(account)s::bigint "
            f"AND t.{q(t.pk.column)} = %(template)s::bigint"
        )
        sizes = [len(model._meta.concrete_fields) for _alias, model in self._MODELS]
        return sql, converters, sizes

    def run(self, account: Account, email: str, template_id: object, addresses: list[str]) -> _AdmissionFacts:
        from django.db import connections

        alias = Message.objects.db
        connection = connections[alias]
        if connection.vendor != "postgresql":
            return _facts_by_orm(account, email, template_id, addresses)
        compiled = self._compiled.get(alias)
        if compiled is None:
            compiled = self._compiled.setdefault(alias, self._compile(alias))
        sql, converters, sizes = compiled
        params = {
            "account": account.pk, "email": email, "template": _template_pk(template_id),
            "day": platform_today(), "emails": list(addresses),
        }
        row = convert_row(execute_prepared(alias, sql, params)[0], converters, connection)
        start, instances = 0, []
        for (_table_alias, model), size in zip(self._MODELS, sizes, strict=True):
            values = row[start:start + size]
            start += size
            instances.append(None if values[0] is None else model.from_db(alias, None, values))
        sender, domain, template = instances
        if sender is not None:
            SenderAddress.domain.field.set_cached_value(sender, domain)
            SenderAddress.account.field.set_cached_value(sender, account)
        if template is not None:
            Template.account.field.set_cached_value(template, account)
        words, frozen, suppressed = row[start:]
        return _AdmissionFacts(sender, template, list(words), bool(frozen), frozenset((e, r) for e, r in suppressed))


_admission_query = _AdmissionQuery()


def _admission_facts(account: Account, email: str, template_id: object, addresses: list[str]) -> _AdmissionFacts:
    return _admission_query.run(account, email, template_id, addresses)


def send_email(
    account: Account, *, from_address: str, destinations: list[str], template_id: int, template_data,
    subject: str = "", cc=(), bcc=(), reply_to: str = "", unsubscribe: int = 0, bulk: bool = False,
) -> SendResult:
    """One send of an approved template to up to 50 (+20 Cc, +20 Bcc) recipients (SPEC §4, §3.5).

    1. Check, in order, each with the SDK's code: the sender address, its verified domain and the
       sender name (reviewed, as the recipients read it); the template (the account's, approved); the template data (its values reviewed); the subject;
       the content filled in (review.review_send: what the values form with it); the recipients; the
       account not frozen; no recipient blacklisted; no recipient unsubscribed (an address with both
       rows is refused as blacklisted).
    2. In one transaction: reserve the quota for every recipient (all or none; the upgrade check
       runs first at the cap), then sending.writer.write_messages: one Message and its "queued" event
       per recipient, enqueued for after the commit. A failed insert rolls the reservation back with it.
    3. A refused reservation commits nothing but what the upgrade check did, then raises ExceedSendLimit.
    """
    from_name, from_email = _parse_from(from_address)
    # Everything the checks read comes in one query, before them; the checks still run (and refuse)
    # in the documented order. A check that fails early only leaves the rest of the answer unread.
    try:
        recipients = _clean_recipients(destinations, cc, bcc)
        refused_recipients = None
    except SendError as exc:
        recipients, refused_recipients = [], exc
    addresses = [address for address, _kind in recipients]
    facts = _admission_facts(account, (from_email or "").strip().lower(), template_id, addresses)

    sender = facts.sender
    if sender is None:
        raise _no_such_sender(from_email)
    domain = sender.domain
    if not domain.is_verified:
        raise SendError("FailedOperation.NotAuthenticatedSender", gettext("%(name)s is not verified; it cannot send.") % {"name": domain.name})
    words = facts.sensitive_words
    rules = review.send_rules(words)
    review_sender_name(from_name or sender.display_name, rules)

    template = facts.template
    if template is None:
        raise _no_such_template(template_id)
    if template.status != Template.APPROVED:
        state = dict(Template.STATUSES)[template.status].lower()
        raise SendError("OperationDenied.TemplateStatusError", gettext("Template %(pk)s is %(state)s; only approved templates send.") % {"pk": template.pk, "state": state})

    subject_source = (subject or "").strip() or template.subject
    needed = review.placeholders(subject_source, template.html, template.text)
    data = _clean_template_data(template_data, needed, rules)

    rendered_subject = render_placeholders(subject_source, data).strip()
    if not rendered_subject or len(rendered_subject) > MAX_SUBJECT or "\n" in rendered_subject or "\r" in rendered_subject:
        raise SendError(
            "InvalidParameterValue.SubjectLengthError",
            gettext("The subject must be one line of 1 to %(MAX_SUBJECT)s characters (give Subject, or one in the template).") % {"MAX_SUBJECT": MAX_SUBJECT},
        )
    if subject_source != template.subject:  # a subject given at send time was never reviewed
        verdict = review.review(subject_source, "", "", sensitive_words=words, transactional=True)
        if not verdict.approved:
            raise SendError("InvalidParameterValue", gettext("The subject breaks a content rule: %(reason)s") % {"reason": review_text.translate_reason(verdict.reason)})
    # What the values form with the template around them, as the recipient reads it.
    verdict = review.review_send(rules, data, subject=subject_source, html=template.html, text=template.text)
    if not verdict.approved:
        raise SendError(
            "InvalidParameterValue.InValidTemplateData",
            gettext("Filled in, the template breaks a content rule: %(reason)s")
            % {"reason": review_text.translate_reason(verdict.reason).replace("\n", " ")},
        )

    if unsubscribe not in UNSUBSCRIBE_OPTIONS:
        raise SendError("InvalidParameterValue", gettext("Unsubscribe must be 0 (none) to 12."))
    reply_to = clean_address(reply_to, what="reply-to address") if (reply_to or "").strip() else ""
    if refused_recipients is not None:
        raise refused_recipients

    if facts.frozen:
        raise SendError(
            "FailedOperation.HighRejectionRate",
            gettext("Your account is frozen for the rest of today because of its bounce or spam rate; sending resumes tomorrow."),
        )
    # Blacklist before unsubscribe, whatever other rows an address has: an address on the blacklist
    # is refused as blacklisted even if it also unsubscribed (facts.suppressed holds both rows).
    suppressed = facts.suppressed
    blacklisted = sorted({e for e, reason in suppressed if reason == Suppression.BLACKLIST})
    if blacklisted:
        raise SendError(
            "FailedOperation.EmailAddrInBlacklist",
            gettext("On your blacklist (an earlier mail bounced as invalid): %(blacklisted)s.") % {"blacklisted": ', '.join(blacklisted)},
        )
    unsubscribed = sorted({e for e, reason in suppressed if reason == Suppression.UNSUBSCRIBED})
    if unsubscribed:
        raise SendError("FailedOperation.ReceiverHasUnsubscribed", gettext("Unsubscribed: %(unsubscribed)s.") % {"unsubscribed": ', '.join(unsubscribed)})

    request_id = uuid.uuid4().hex
    with transaction.atomic():
        reservation = reserve_quota(domain, addresses)
        if reservation.ok:
            messages = write_messages(
                account=account, domain=domain, sender=sender, from_name=from_name, reply_to=reply_to,
                template=template, unsubscribe=unsubscribe, bulk=bulk, request_id=request_id,
                recipients=[Recipient(address, rendered_subject, data, kind) for address, kind in recipients],
            )
    if not reservation.ok:
        raise SendError(
            "FailedOperation.ExceedSendLimit",
            gettext("%(name)s has sent %(sent)s of its %(cap)s messages today; these %(count)s would exceed the daily cap. Nothing was sent; try again tomorrow or send fewer.") % {"name": domain.name, "sent": format(reservation.sent, ','), "cap": format(reservation.cap, ','), "count": len(addresses)},
        )
    return SendResult(request_id, [m.message_id for m in messages])
