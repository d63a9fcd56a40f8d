"""Building the mail a message becomes: template rendering, headers, unsubscribe footer, DKIM.

    render          {{variable}} substitution (HTML-escaped in the HTML part)
    build_message   the RFC 5322 bytes of one Message, DKIM-signed with its domain's key
"""

from __future__ import annotations

import html as html_lib
import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

import dkim
from django.conf import settings
from django.utils import timezone

from domains.services import dkim_private_key
from sending import tracking

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

# The Unsubscribe option of SendEmail (SPEC §4.2): a short footer line in the recipient's language.
UNSUBSCRIBE_FOOTERS = {
    1: ("不想再收到此类邮件？", "退订"),
    2: ("Don't want to receive these emails?", "Unsubscribe"),
    3: ("不想再收到此類郵件？", "取消訂閱"),
    4: ("¿No quieres recibir más estos correos?", "Darse de baja"),
    5: ("Vous ne souhaitez plus recevoir ces e-mails ?", "Se désabonner"),
    6: ("Sie möchten diese E-Mails nicht mehr erhalten?", "Abmelden"),
    7: ("今後このメールの配信を希望されない場合は", "配信停止"),
}

# Signed headers: what a receiver shows or acts on. Only those present are listed.
DKIM_HEADERS = (
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID",
    "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
)


def render(text: str, data: dict, *, escape: bool = False, defaults: dict | None = None) -> str:
    """Replace each {{name}} by its value; a name the data lacks takes `defaults`, then "".

    Values never carry markup (SendEmail refuses HTML in TemplateData) but are escaped in the HTML
    part all the same, so `<` in a name shows as `<` instead of opening a tag.
    """
    defaults = defaults or {}

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in data:
            raw = data[name]
            raw = "" if raw is None else str(raw)
            return html_lib.escape(raw) if escape else raw
        return defaults.get(name, "")

    return _PLACEHOLDER.sub(value, text or "")


def _footer_lines(option: int) -> tuple[str, str] | None:
    if option <= 0:
        return None
    return UNSUBSCRIBE_FOOTERS.get(option, UNSUBSCRIBE_FOOTERS[2])


def _with_html_footer(html: str, option: int, url: str) -> str:
    lines = _footer_lines(option)
    if lines is None:
        return html
    prompt, link = lines
    footer = (
        f'<p style="font-size:12px;color:#888888">{html_lib.escape(prompt)} '
        f'<a href="{html_lib.escape(url)}">{html_lib.escape(link)}</a></p>'
    )
    matches = list(re.finditer(r"</body\s*>", html, re.IGNORECASE))
    if matches:
        at = matches[-1].start()
        return f"{html[:at]}{footer}{html[at:]}"
    return f"{html}{footer}"


def _with_text_footer(text: str, option: int, url: str) -> str:
    lines = _footer_lines(option)
    if lines is None:
        return text
    prompt, link = lines
    return f"{text.rstrip()}\n\n-- \n{prompt} {link}: {url}\n"


def wants_list_unsubscribe(message) -> bool:
    return message.bulk or message.unsubscribe > 0


def list_unsubscribe_mailto(message) -> str:
    mailbox = settings.SES_UNSUBSCRIBE_MAILTO or f"unsubscribe@{message.domain.name}"
    return f"mailto:{mailbox}?subject=unsubscribe%20{message.message_id}"


def build_message(message, *, to: list[str] | None = None, cc: list[str] | None = None) -> bytes:
    """The signed bytes of `message` as handed to the relay (CRLF line ends, ASCII only).

    `to`/`cc` are the visible recipient lists of the send (a Bcc recipient is never shown); by
    default the message's own recipient.
    1. Subject, HTML and text are rendered from the template with the message's template data;
       a placeholder named like *unsub* without a value becomes the unsubscribe URL.
    2. The unsubscribe footer of the Unsubscribe option, then open and click tracking on the HTML.
    3. Headers: From with display name, To/Cc, Reply-To, Date, Message-ID, X-SES-Message-Id, and
       RFC 8058 List-Unsubscribe + List-Unsubscribe-Post on bulk mail and whenever unsubscribe > 0.
    4. DKIM-Signature with the domain's key and selector (relaxed/relaxed, rsa-sha256).
    """
    template = message.template
    data = message.template_data if isinstance(message.template_data, dict) else {}
    unsubscribe = tracking.unsubscribe_url(message)
    defaults = {name: unsubscribe for name in _PLACEHOLDER.findall(
        f"{template.subject if template else ''}{template.html if template else ''}{template.text if template else ''}"
    ) if "unsub" in name.lower()}

    subject_source = message.subject or (template.subject if template else "")
    subject = " ".join(render(subject_source, data, defaults=defaults).split())
    html = render(template.html, data, escape=True, defaults=defaults) if template and template.html else ""
    text = render(template.text, data, defaults=defaults) if template and template.text else ""
    if html:
        html = _with_html_footer(html, message.unsubscribe, unsubscribe)
        html = tracking.rewrite_html(message, html)
    if text or not html:
        text = _with_text_footer(text, message.unsubscribe, unsubscribe)

    mail = EmailMessage(policy=SMTP)
    mail["From"] = formataddr((message.from_name, message.from_email)) if message.from_name else message.from_email
    if to is None and cc is None:
        to = [message.recipient] if message.recipient_kind == "to" else []
        cc = [message.recipient] if message.recipient_kind == "cc" else []
    mail["To"] = ", ".join(to) if to else "undisclosed-recipients:;"
    if cc:
        mail["Cc"] = ", ".join(cc)
    if message.reply_to:
        mail["Reply-To"] = message.reply_to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(timezone.now())
    mail["Message-ID"] = f"<{message.message_id}@{message.domain.name}>"
    mail["X-SES-Message-Id"] = message.message_id
    if wants_list_unsubscribe(message):
        mail["List-Unsubscribe"] = f"<{unsubscribe}>, <{list_unsubscribe_mailto(message)}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if text:
        mail.set_content(text, subtype="plain", charset="utf-8")
        if html:
            mail.add_alternative(html, subtype="html", charset="utf-8")
    else:
        mail.set_content(html, subtype="html", charset="utf-8")
    raw = mail.as_bytes()
    return dkim_sign(raw, message.domain)


def dkim_sign(raw: bytes, domain) -> bytes:
    present = {line.split(b":", 1)[0].strip().lower() for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")}
    headers = [h.lower().encode() for h in DKIM_HEADERS if h.lower().encode() in present]
    signature = dkim.sign(
        raw,
        selector=domain.dkim_selector.encode(),
        domain=domain.name.encode(),
        privkey=dkim_private_key(domain).encode(),
        include_headers=headers,
        canonicalize=(b"relaxed", b"relaxed"),
    )
    return signature + raw
