"""The automatic content review of SPEC §4.1: template content in, verdict out.

Pure Python: no Django, no clock, no network. The template service calls `review()` on every create
and edit and stores the verdict (approved → status 0, rejected → status 2, with the reasons).
`review_send(send_rules(words), data, subject=, html=, text=)` reviews what one send carries: the
template variables (SendEmail, the console's test send, each row of a recipient list as it is
added) and what they form with the template once rendered (SendEmail, and each recipient again
when a batch dispatches it); see its docstring.

What is reviewed: the subject, the plain-text part, and the HTML part as a reader sees it — tags
stripped, entities decoded, <script>/<style>/<template> content and comments dropped, the alt and
title text of images kept (a mail client shows them when images are blocked). Each part is reviewed
on its own, so a quote never spans two parts.

Matching runs on a folded copy of each part and quotes the original text:
- NFC first (a decomposed "é" equals a composed one), then NFKC per character and casefold, so
  full-width and other compatibility forms (ｗｅｃｈａｔ, ＱＱ：１２３, ①, ⓦ) and any casing
  (WeChat, wEcHaT) match their plain form;
- invisible format characters (Unicode category Cf: zero-width space/joiners, soft hyphen, BOM,
  bidi marks) are removed, so "we\u200bchat" is "wechat";
- a run of whitespace counts as its first character (rules allow any spacing, and a long run would
  otherwise cost seconds to match).
Not caught: look-alike letters from other scripts (Cyrillic "е" for Latin "e") and spelled-out
evasions ("wee chat"); staff add such variants to the sensitive-word list.

Rules that reject (rule name → what it catches):
- sensitive_word: an entry of the staff-maintained list. Entries are folded the same way; up to two
  separator characters (whitespace or . - _ * · • | / \\ ~ + ^ ' " `) may sit between any two
  characters ("g.a.m.b.l.i.n.g", "赌 博"). An entry that starts/ends with a letter or digit of an
  alphabetic script must start/end at a word boundary, so "ass" does not fire inside "class";
  CJK entries match anywhere (those scripts have no spaces between words).
- wechat: a WeChat/微信/weixin/wx/vx/v信 name followed by an ID or phone number ("WeChat: abc_123",
  "微信号：abc123", "wx 13800138000"); "加微信"/"加V"-style add-me phrases; "add me on WeChat".
  A bare mention ("Pay with WeChat Pay", "WeChat users") is allowed: SPEC forbids contact IDs, not
  the brand. Without a colon or 号 marker the ID must contain a digit or underscore, and a plain
  word after a colon counts only when it ends the phrase ("WeChat: johnsmith." yes,
  "WeChat: download the app" no).
- qq: a QQ/扣扣/企鹅 name followed by a 5–11 digit number ("QQ: 12345678", "QQ号 123456789"),
  "企鹅号", QQ groups ("QQ群 123456", "群号：123456", "QQ group 123456"), "加QQ", "add me on QQ".
  Numbers on their own (order IDs, prices, phone numbers without a WeChat/QQ name) never fire.
- group_invitation: Chinese join-group phrases (加群, 进群, 入群, 扫码入群, 加入我们的微信群, …,
  with 群众/群体/群发/群岛… excluded), "join our WhatsApp/Telegram/WeChat/… group|chat|channel",
  "join our group chat", "join our community on Discord", "add me on WhatsApp/Telegram/LINE/…", and
  invite links (chat.whatsapp.com, t.me/joinchat, t.me/+…, qm.qq.com, jq.qq.com, discord.gg, …)
  in text or in link targets. A plain "join our group" (of customers, of companies) is allowed.
- qr_code: an <img> whose alt, title or file name/URL says qr, qrcode, 二维码/二維碼 or 扫码
  ("wechat_qr.png", "QRCode.jpg", "/create-qr-code/?data=…", alt="扫码加群"); "QRS" and other words
  that merely contain the letters do not fire, and the payload of a data: URI is never searched as
  text. An embedded (data: URI) image that decodes as a QR code fires too when a decoder is
  available: zxing-cpp with Pillow if installed, or the `qr_decoder` argument.

Warning (approved with a note), rule missing_unsubscribe: the template is not transactional and no
part carries an unsubscribe link. A link counts when it is an <a href> whose target or text names
unsubscribing (unsubscribe, opt out, 退订, 退訂, 取消订阅, 取消訂閱, 配信停止, 配信解除, 購読解除,
abmelden, abbestellen, désabonner, désinscrire, darse de baja, cancelar suscripción) or is a
placeholder whose name mentions unsub ({{unsubscribe_url}}); in the plain text, such a placeholder,
or an http(s)/mailto URL on the same line as one of those words. One part with a link is enough:
the check is about the template as a whole.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from core import unusable

APPROVED = "approved"
REJECTED = "rejected"

SENSITIVE_WORD = "sensitive_word"
WECHAT = "wechat"
QQ = "qq"
GROUP_INVITATION = "group_invitation"
QR_CODE = "qr_code"
MISSING_UNSUBSCRIBE = "missing_unsubscribe"



def gettext_noop(message: str) -> str:
    """Marks a message for the catalogs (makemessages) without Django: this module needs none."""
    return message


def _same(message: str) -> str:
    return message


# Stored in English (Template.review_reason); sending.review_text shows them in the reader's language.
MESSAGES = {
    WECHAT: gettext_noop("WeChat contact details are not allowed."),
    QQ: gettext_noop("QQ numbers and QQ groups are not allowed."),
    GROUP_INVITATION: gettext_noop("Invitations to join a chat group or add a social-media contact are not allowed."),
    QR_CODE: gettext_noop("QR-code images are not allowed."),
    MISSING_UNSUBSCRIBE: gettext_noop(
        "No unsubscribe link: add one (for example {{unsubscribe_url}}) or mark the template "
        "transactional if it is not marketing mail."
    ),
}
SENSITIVE_WORD_MESSAGE = gettext_noop('Contains "%(word)s" from the sensitive-word list.')
TEMPLATE_VARIABLE_SUFFIX = gettext_noop(" (template variable)")
PART_NAMES = {"subject": gettext_noop("subject"), "html": gettext_noop("html"), "text": gettext_noop("text")}

# A template with thousands of hits is as rejected with ten; the reason stays readable.
MAX_FINDINGS_PER_RULE = 10
QUOTE_CONTEXT = 20
# Decoding images costs CPU; a real QR image in a mail is far smaller than this.
MAX_DECODED_IMAGE_BYTES = 2 * 1024 * 1024

QrDecoder = Callable[[bytes], bool]


@dataclass(frozen=True)
class Finding:
    rule: str
    quote: str
    message: str
    part: str = ""  # "subject", "html" or "text"


@dataclass(frozen=True)
class ReviewResult:
    status: str
    rejections: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def approved(self) -> bool:
        return self.status == APPROVED

    @property
    def reason(self) -> str:
        """One line per finding, rejections first: what a user reads as the review reason."""
        lines = []
        for finding in [*self.rejections, *self.warnings]:
            where = f" ({finding.part})" if finding.part else ""
            quote = f': "{finding.quote}"' if finding.quote else ""
            lines.append(f"[{finding.rule}]{where} {finding.message}{quote}")
        return "\n".join(lines)


# --- folding ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Folded:
    original: str
    folded: str
    index: Sequence[int]  # folded position -> original position

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        return self.index[start], self.index[end - 1] + 1


# A run of whitespace is matched as its first character: rules with several optional \s* in a row
# would otherwise try every split of a long run (800 spaces in a variable took seconds).
_SPACE_RUN = re.compile(r"\s\s")


def _fold(text: str, *, composed: bool = False) -> _Folded:
    """`composed`: the text is NFC already, piece by piece (review_send's rendered text, whose value
    spans are positions in it): normalizing it whole could join a value to the text before it."""
    original = text if composed else unicodedata.normalize("NFC", text)
    if original.isascii() and not _SPACE_RUN.search(original):
        # ASCII is its own NFKC form and has no Cf character: only the case changes
        return _Folded(original, original.lower(), range(len(original)))
    chars: list[str] = []
    index: list[int] = []
    space = False
    for position, char in enumerate(original):
        if unicodedata.category(char) == "Cf":
            continue
        for folded_char in unicodedata.normalize("NFKC", char).casefold():
            if folded_char.isspace():
                if space:
                    continue
                space = True
            else:
                space = False
            chars.append(folded_char)
            index.append(position)
    return _Folded(original, "".join(chars), tuple(index))


def _fold_plain(text: str) -> str:
    return _fold(text).folded


def _excerpt(original: str, start: int, end: int) -> str:
    begin = max(0, start - QUOTE_CONTEXT)
    finish = min(len(original), end + QUOTE_CONTEXT)
    quote = " ".join(original[begin:finish].split())
    if begin > 0:
        quote = "…" + quote
    if finish < len(original):
        quote += "…"
    return quote


# --- HTML ------------------------------------------------------------------------------------------

_HIDDEN_ELEMENTS = {"script", "style", "template"}
_BLOCK_ELEMENTS = set(
    """address article aside blockquote br center dd div dl dt footer form h1 h2 h3 h4 h5 h6 header hr
    li main nav ol p pre section table tbody td tfoot th thead title tr ul""".split()
)


@dataclass
class _Link:
    href: str
    text: list[str] = field(default_factory=list)


class _HtmlContent(HTMLParser):
    """Visible text, images and links of an HTML part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.images: list[dict[str, str]] = []
        self.links: list[_Link] = []
        self._hidden_depth = 0
        self._open_link: _Link | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_ELEMENTS:
            self._hidden_depth += 1
            return
        if self._hidden_depth:
            return
        attributes = {name: value or "" for name, value in attrs}
        if tag in _BLOCK_ELEMENTS:
            self.chunks.append("\n")
        if tag == "img":
            self.images.append(attributes)
            for name in ("alt", "title"):
                if attributes.get(name):
                    self.chunks.append(f"\n{attributes[name]}\n")
        elif tag == "a":
            self._open_link = _Link(attributes.get("href", "").strip())
            self.links.append(self._open_link)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <script/> opens nothing, so it must not hide the rest of the document.
        if tag not in _HIDDEN_ELEMENTS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_ELEMENTS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
            return
        if self._hidden_depth:
            return
        if tag in _BLOCK_ELEMENTS:
            self.chunks.append("\n")
        if tag == "a":
            self._open_link = None

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        self.chunks.append(data)
        if self._open_link is not None:
            self._open_link.text.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def _parse_html(html: str) -> _HtmlContent:
    content = _HtmlContent()
    content.feed(html)
    content.close()
    return content


def visible_text(html: str) -> str:
    """The text a reader of the HTML part sees (plus image alt/title text)."""
    return _parse_html(html).text


# --- contact patterns (on folded text: NFKC, casefolded) ------------------------------------------

_ADD = r"(?<![增参參附更追施叠疊外])加\s*(?:我|个|個|一下)?\s*(?:的)?\s*"
_ID_WITH_DIGIT = r"(?=[a-z0-9_-]*[0-9_])[a-z][a-z0-9_-]{5,19}(?![a-z0-9_-])"
_ID_ANY = r"[a-z][a-z0-9_-]{5,19}(?![a-z0-9_-])"
_ID_ENDING = _ID_ANY + r"(?!\s*[a-z])"  # a plain word only when no other word follows it
_PHONE = r"\+?\d(?:[\s-]?\d){4,14}(?!\d)"
_WECHAT_NAME = r"(?:(?<![a-z0-9])(?:(?:wechat|weixin|wx|vx)(?![a-z])|v\s?信)|微\s?信|[威薇徽]\s?信)"
_WECHAT_CJK_MARKER = r"\s*(?:号|號|账号|帳號|帐号)\s*"
_WECHAT_COLON = r"\s*[_-]?\s*(?:id|号|號|账号|帳號|帐号|account|number|no\.?)?\s*[:=]\s*"
_SOCIAL_NETWORKS = (
    r"(?:whatsapp|telegram|line|discord|signal|viber|kakao(?:talk)?|facebook|messenger|slack|"
    r"snapchat|skype|wechat|weixin|qq)"
)

_WECHAT_PATTERNS = [
    re.compile(_WECHAT_NAME + _WECHAT_COLON + rf"(?:{_PHONE}|{_ID_WITH_DIGIT}|{_ID_ENDING})"),
    re.compile(_WECHAT_NAME + _WECHAT_CJK_MARKER + rf"(?:{_PHONE}|{_ID_ANY})"),
    # No marker: only an ID with a digit or underscore, or an unbroken run of digits (not a date).
    re.compile(_WECHAT_NAME + rf"\s*(?:\+?\d{{6,15}}(?!\d)|{_ID_WITH_DIGIT})"),
    re.compile(_ADD + r"(?:微\s?信|[威薇徽]\s?信|v\s?信|vx|wx|weixin|wechat|v)(?![a-z])(?!\s*(?:支付|pay))"),
    re.compile(r"\badd\s+(?:me|us)\s+(?:on|via|in|at)\s+(?:wechat|weixin)\b"),
    re.compile(r"\badd\s+my\s+(?:wechat|weixin)\b"),
    re.compile(r"\b(?:wechat|weixin)\s+me\b"),
]

_QQ_NAME = r"(?:(?<![a-z0-9])qq(?![a-z])|扣扣|企\s?[鹅鵝])"
_QQ_NUMBER = r"[1-9](?:[\s-]?\d){4,10}(?!\d)"
_QQ_PATTERNS = [
    re.compile(_QQ_NAME + r"\s*(?:号码|號碼|号|號|账号|帳號|帐号|id|number|no\.?|#)?\s*[:=]\s*" + _QQ_NUMBER),
    re.compile(_QQ_NAME + r"\s*(?:号码|號碼|号|號|账号|帳號|帐号)\s*" + _QQ_NUMBER),
    re.compile(r"(?<![a-z0-9])qq\s*[1-9]\d{4,10}(?!\d)"),  # no marker: an unbroken number only
    re.compile(r"企\s?[鹅鵝]\s?[号號]"),
    re.compile(r"(?:(?<![a-z0-9])qq|扣扣)\s*群\s*(?:号码|號碼|号|號)?\s*[:=]?\s*" + _QQ_NUMBER),
    re.compile(r"群\s*(?:号码|號碼|号|號)\s*[:=]?\s*" + _QQ_NUMBER),
    re.compile(r"(?<![a-z0-9])qq\s*group\s*(?:number|no\.?|id|#)?\s*[:=]?\s*" + _QQ_NUMBER),
    re.compile(_ADD + r"(?:qq|扣扣)(?![a-z])"),
    re.compile(r"\badd\s+(?:me|us)\s+(?:on|via|in|at)\s+qq\b"),
    re.compile(r"\badd\s+my\s+qq\b"),
]

_GROUP_PATTERNS = [
    re.compile(
        r"(?:(?<![增参參附更追施叠疊外深收转轉融])(?:加入|进入|進入|加|进|進|入))\s*"
        r"(?:我们|我們|我|咱们|咱們|本|官方)?\s*(?:的)?\s*"
        r"(?:微信|qq|扣扣|粉丝|粉絲|交流|vip|会员|會員|福利|内部|內部|官方|专属|專屬)?\s*"
        r"群(?![众眾体體岛島星落山集居芳英豪发發])"
    ),
    re.compile(
        r"\bjoin\s+(?:our|my|the|us\s+in\s+(?:our|the))\s+(?:[a-z]+\s+){0,2}?"
        + _SOCIAL_NETWORKS
        + r"\s+(?:group|chat|channel|community|server)"
    ),
    re.compile(r"\bjoin\s+(?:our|my)\s+group\s*chat\b"),
    re.compile(
        r"\bjoin\s+(?:our|my|the)\s+(?:group|chat|channel|community|server)\s+(?:on|in|at)\s+"
        + _SOCIAL_NETWORKS
        + r"\b"
    ),
    re.compile(
        r"\badd\s+(?:me|us)\s+(?:on|via|in|at)\s+"
        r"(?:whatsapp|telegram|line|discord|signal|viber|kakao(?:talk)?|snapchat|skype)\b"
    ),
    re.compile(
        r"\badd\s+my\s+(?:whatsapp|telegram|line|discord|signal|viber|kakao(?:talk)?|snapchat|skype)\b"
    ),
]

_INVITE_LINK = re.compile(
    r"(?:chat\.whatsapp\.com/|(?<![a-z0-9.-])t\.me/(?:joinchat/|\+)|(?:qm|jq|qun)\.qq\.com/|"
    r"weixin\.qq\.com/g/|u\.wechat\.com/|line\.me/(?:r/)?ti/g/|discord\.gg/|discord(?:app)?\.com/invite/)"
    r"[^\s\"'<>]*"
)

_CONTACT_RULES: list[tuple[str, list[re.Pattern[str]]]] = [
    (WECHAT, _WECHAT_PATTERNS),
    (QQ, _QQ_PATTERNS),
    (GROUP_INVITATION, [*_GROUP_PATTERNS, _INVITE_LINK]),
]

# Placeholders named for a contact would smuggle the ID in at send time.
_CONTACT_PLACEHOLDER_WORDS = {
    WECHAT: {"wechat", "weixin", "wx", "vx", "微信"},
    QQ: {"qq"},
}

# --- QR codes ---------------------------------------------------------------------------------------

_QR_WORDS = re.compile(
    r"(?<![a-z0-9])qr(?:\s*-?\s*codes?)?(?![a-z0-9])|二[维維]\s?[码碼]|[扫掃]\s?[码碼]|[扫掃]一[扫掃]"
)
# In a file name or path segment: "qr", "qrcode", "wechatqr", "qr2", "myqrcode" (short tokens only:
# long random tokens in CDN URLs contain "qr" by chance).
_QR_PATH_TOKEN = re.compile(r"[a-z]{0,12}qr(?:codes?|img|image|pic)?\d{0,3}")
_QR_QUERY_TOKEN = re.compile(r"qr|qrcodes?")


def _camel_split(text: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)


def _url_says_qr(src: str) -> bool:
    if src.lower().startswith("data:"):
        return False  # the media type never says qr, and the payload is not text
    parts = urlsplit(src)
    path = _fold_plain(unquote(parts.path))
    if _QR_WORDS.search(path):
        return True
    if any(_QR_PATH_TOKEN.fullmatch(token) for token in re.split(r"[^a-z0-9]+", path) if token):
        return True
    query = _fold_plain(unquote(parts.query))
    return any(_QR_QUERY_TOKEN.fullmatch(token) for token in re.split(r"[^a-z0-9]+", query) if token)


def _text_says_qr(text: str) -> bool:
    return bool(_QR_WORDS.search(_fold_plain(_camel_split(text))))


def _data_uri_bytes(src: str) -> bytes | None:
    match = re.fullmatch(r"data:image/[a-z0-9.+-]+(;[^,]*)?,(.*)", src.strip(), re.IGNORECASE | re.DOTALL)
    if not match:
        return None
    params, payload = match.group(1) or "", match.group(2)
    if len(payload) > MAX_DECODED_IMAGE_BYTES * 4 // 3 + 4:
        return None
    if ";base64" in params.lower():
        try:
            return base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            return None
    return unquote(payload).encode("latin-1", errors="ignore")


@functools.cache
def installed_qr_decoder() -> QrDecoder | None:
    """zxing-cpp + Pillow when both are installed, else None (SPEC: "if a decoder is installed")."""
    try:
        import io

        import zxingcpp  # type: ignore[import-not-found]
        from PIL import Image  # type: ignore[import-not-found]
    except ImportError:
        return None

    def decode(data: bytes) -> bool:
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                results = zxingcpp.read_barcodes(image)
        except Exception:  # an undecodable image is simply not a QR code
            return False
        return any("qr" in str(result.format).lower() for result in results)

    return decode


def _qr_findings(images: list[dict[str, str]], qr_decoder: QrDecoder | None) -> list[Finding]:
    findings = []
    for attributes in images:
        src = attributes.get("src", "").strip()
        quote = ""
        for name in ("alt", "title", "name"):
            if attributes.get(name) and _text_says_qr(attributes[name]):
                quote = f'{name}="{attributes[name]}"'
                break
        if not quote and src and _url_says_qr(src):
            quote = f'src="{src}"'
        if not quote and qr_decoder is not None and src.lower().startswith("data:"):
            data = _data_uri_bytes(src)
            if data and qr_decoder(data):
                quote = f'<img src="{src[:40]}…"> decodes as a QR code'
        if quote:
            findings.append(Finding(QR_CODE, " ".join(quote.split())[:200], MESSAGES[QR_CODE], "html"))
    return findings


# --- sensitive words -------------------------------------------------------------------------------

_WORD_SEPARATORS = r"[\s.\-_*·•|/\\~+^'\"`]{0,2}"
# A letter or digit of an alphabetic script (CJK and later blocks need no word boundaries).
_ALNUM_OUTSIDE_CJK = r"[^\W_\u2e80-\U0010ffff]"


def _is_alnum_outside_cjk(char: str) -> bool:
    return char.isalnum() and ord(char) < 0x2E80


def _sensitive_pattern(entry: str) -> re.Pattern[str] | None:
    chars = [c for c in _fold_plain(entry) if not re.fullmatch(_WORD_SEPARATORS.replace("{0,2}", ""), c)]
    if not chars:
        return None
    body = _WORD_SEPARATORS.join(re.escape(c) for c in chars)
    before = f"(?<!{_ALNUM_OUTSIDE_CJK})" if _is_alnum_outside_cjk(chars[0]) else ""
    after = f"(?!{_ALNUM_OUTSIDE_CJK})" if _is_alnum_outside_cjk(chars[-1]) else ""
    return re.compile(before + body + after)


def _sensitive_patterns(sensitive_words: Iterable[str]) -> list[tuple[str, re.Pattern[str]]]:
    """(entry, pattern) of each distinct entry that has one (an entry of separators only has none)."""
    patterns = ((entry, _sensitive_pattern(entry)) for entry in dict.fromkeys(sensitive_words))
    return [(entry, pattern) for entry, pattern in patterns if pattern is not None]


# --- review ----------------------------------------------------------------------------------------


class _Collector:
    """Findings of every rule: a repeated or overlapping match once, at most MAX_FINDINGS_PER_RULE a rule."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._count: dict[str, int] = {}
        self._matched: set[tuple[str, str]] = set()

    def add_match(self, rule: str, part: str, folded: _Folded, start: int, end: int, message: str) -> None:
        spans = self._spans.setdefault((rule, part), [])
        matched = (rule, folded.folded[start:end])
        if matched in self._matched or any(start < e and s < end for s, e in spans):
            return
        spans.append((start, end))
        self._matched.add(matched)
        original_start, original_end = folded.original_span(start, end)
        quote = _excerpt(folded.original, original_start, original_end)
        self.add(Finding(rule, quote, message, part))

    def add(self, finding: Finding) -> None:
        if self._count.get(finding.rule, 0) >= MAX_FINDINGS_PER_RULE:
            return
        if any(f.rule == finding.rule and f.quote == finding.quote for f in self.findings):
            return
        self._count[finding.rule] = self._count.get(finding.rule, 0) + 1
        self.findings.append(finding)


# A part to match: its name, its folded text and the spans (in the original text) a match must overlap
# to count; None: every match counts.
_Part = tuple[str, _Folded, list[tuple[int, int]] | None]


def _match_text(collector: _Collector, parts: list[_Part], sensitive: list[tuple[str, re.Pattern[str]]]) -> None:
    """The text rules (sensitive words, WeChat, QQ, group invitations) on each part."""

    def add(rule: str, part: str, folded: _Folded, spans, match: re.Match, message: str) -> None:
        if spans is not None:
            start, end = folded.original_span(match.start(), match.end())
            if not any(start < e and s < end for s, e in spans):
                return
        collector.add_match(rule, part, folded, match.start(), match.end(), message)

    for entry, pattern in sensitive:
        message = SENSITIVE_WORD_MESSAGE % {"word": entry.strip()}
        for part, folded, spans in parts:
            for match in pattern.finditer(folded.folded):
                add(SENSITIVE_WORD, part, folded, spans, match, message)
    for rule, rule_patterns in _CONTACT_RULES:
        for part, folded, spans in parts:
            for pattern in rule_patterns:
                for match in pattern.finditer(folded.folded):
                    add(rule, part, folded, spans, match, MESSAGES[rule])


def review(
    subject: str,
    html: str,
    text: str,
    *,
    sensitive_words: Iterable[str] = (),
    transactional: bool = False,
    qr_decoder: QrDecoder | None = None,
) -> ReviewResult:
    """Review a template's content (SPEC §4.1).

    1. Build the reviewed texts: subject, the HTML part's visible text, the plain text.
    2. Reject on sensitive words, WeChat, QQ, group invitations (text and link targets), QR images.
    3. Warn when a non-transactional template has no unsubscribe link.
    """
    content = _parse_html(html or "")
    parts = [
        ("subject", _fold(subject or "")),
        ("html", _fold(content.text)),
        ("text", _fold(text or "")),
    ]
    collector = _Collector()
    _match_text(collector, [(part, folded, None) for part, folded in parts], _sensitive_patterns(sensitive_words))
    for link in content.links:
        if _INVITE_LINK.search(_fold_plain(link.href)):
            collector.add(Finding(GROUP_INVITATION, link.href[:200], MESSAGES[GROUP_INVITATION], "html"))

    for name in sorted(placeholders(subject, html, text)):
        words = set(re.split(r"[^a-z0-9]+", _fold_plain(_camel_split(name).replace(" ", "_"))))
        for rule, contact_words in _CONTACT_PLACEHOLDER_WORDS.items():
            if words & contact_words:
                collector.add(Finding(rule, f"{{{{{name}}}}}", MESSAGES[rule] + TEMPLATE_VARIABLE_SUFFIX, ""))

    decoder = qr_decoder if qr_decoder is not None else installed_qr_decoder()
    for finding in _qr_findings(content.images, decoder):
        collector.add(finding)

    warnings = []
    if not transactional and not has_unsubscribe_link(html, text):
        warnings.append(Finding(MISSING_UNSUBSCRIBE, "", MESSAGES[MISSING_UNSUBSCRIBE]))

    rejections = collector.findings
    return ReviewResult(REJECTED if rejections else APPROVED, rejections, warnings)


# --- unsubscribe links -----------------------------------------------------------------------------

_UNSUBSCRIBE_WORDS = re.compile(
    r"unsub|opt[\s-]?out|退\s?[订訂]|取消\s?[订訂][阅閱]|配信停止|配信解除|購読解除|abmelden|abbestellen|"
    r"d[eé]sabonner|d[eé]sinscri|darse\s+de\s+baja|cancelar\s+(?:la\s+)?suscripci[oó]n"
)
_URL = re.compile(r"(?:https?://|mailto:)\S+")


def _is_unsubscribe_placeholder(text: str) -> bool:
    return any("unsub" in name.lower() for name in _placeholder_names(text))


def has_unsubscribe_link(html: str, text: str) -> bool:
    """Whether the HTML or the plain text carries an unsubscribe link (see the module docstring)."""
    content = _parse_html(html or "")
    for link in content.links:
        if not link.href or link.href == "#":
            continue
        if _is_unsubscribe_placeholder(link.href):
            return True
        if _UNSUBSCRIBE_WORDS.search(_fold_plain(unquote(link.href) + " " + "".join(link.text))):
            return True
    # A bare URL in the HTML text is linked by mail clients, so it counts like one in the text part.
    for line in [*(text or "").splitlines(), *content.text.splitlines()]:
        if _is_unsubscribe_placeholder(line):
            return True
        folded = _fold_plain(line)
        if _URL.search(folded) and _UNSUBSCRIBE_WORDS.search(folded):
            return True
    return False


# --- placeholders and template data ----------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ANY_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_HTML_START = re.compile(r"<[A-Za-z/!?]")
MAX_PLACEHOLDER_NAME = 64


def _placeholder_names(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text or "")


def placeholders(subject: str, html: str, text: str) -> set[str]:
    """The names of the {{variable}} placeholders used anywhere in the template."""
    return {name for part in (subject, html, text) for name in _placeholder_names(part)}


def placeholder_errors(
    subject: str, html: str, text: str, gettext: Callable[[str], str] = _same
) -> list[str]:
    """Malformed placeholders: an empty or invalid name between {{ }}, or a {{ that is never closed.

    gettext translates the messages (Django's, from the callers that have a reader); English without."""
    errors = []
    for label, part in (("subject", subject), ("html", html), ("text", text)):
        part = part or ""
        for match in _ANY_BRACES.finditer(part):
            name = match.group(1).strip()
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                errors.append(
                    gettext("%(part)s: %(placeholder)s is not a valid placeholder (use {{name}}).")
                    % {"part": gettext(PART_NAMES[label]), "placeholder": match.group(0)[:80]}
                )
            elif len(name) > MAX_PLACEHOLDER_NAME:
                errors.append(
                    gettext("%(part)s: placeholder names are at most %(max)s characters.")
                    % {"part": gettext(PART_NAMES[label]), "max": MAX_PLACEHOLDER_NAME}
                )
        if "{{" in _ANY_BRACES.sub("", part):
            errors.append(gettext("%(part)s: a {{ is never closed with }}.") % {"part": gettext(PART_NAMES[label])})
    return errors


def template_data_errors(data: object, gettext: Callable[[str], str] = _same) -> list[str]:
    """Problems with send-time template data (SPEC §4.1, InvalidParameterValue.InValidTemplateData).

    The data must be a JSON object of strings; a value must not contain HTML, which is any "<"
    followed by a letter, "/", "!" or "?" (so "a < b" and "<3" are fine, "<b>" and "<!--" are not).
    No name or value may hold an unusable character (core.unusable): TemplateData is a JSON
    string of its own, parsed after the request's body was checked. A name is echoed escaped.
    """
    if not isinstance(data, Mapping):
        return [gettext("TemplateData must be a JSON object.")]
    errors = []
    for key, value in data.items():
        if not isinstance(key, str):
            errors.append(gettext("%(key)s: variable names must be strings.") % {"key": repr(key)})
        elif unusable.first(key) >= 0:
            errors.append(gettext("%(key)s: the variable name contains %(char)s, a character that cannot be used.") % {
                "key": unusable.clipped(unusable.shown(key)), "char": unusable.code_point(key[unusable.first(key)])})
        elif not isinstance(value, str):
            errors.append(
                gettext("%(key)s: the value must be a string, not %(type)s.") % {"key": key, "type": type(value).__name__}
            )
        elif unusable.first(value) >= 0:
            errors.append(gettext("%(key)s: the value contains %(char)s, a character that cannot be used.") % {
                "key": key, "char": unusable.code_point(value[unusable.first(value)])})
        elif _HTML_START.search(value):
            errors.append(gettext("%(key)s: the value must not contain HTML.") % {"key": key})
    return errors


# --- what a send carries ---------------------------------------------------------------------------

# A rule's match is a few dozen characters: a phrase a value forms with the template's text lies within
# this many characters of the value on either side.
SEND_WINDOW = 120
# Every text a contact rule (_CONTACT_RULES) matches holds one of these literals or matches one of
# these looser patterns; the screen looks for them and for the sensitive words. The screen reads text
# whose whitespace runs are not folded to one character: it takes a whole run where a rule allows a
# space, possessively (a run is followed by something else), so it never tries a run's splits.
_CONTACT_LITERALS = ("wechat", "weixin", "wx", "vx", "qq", "whatsapp", "discord", "扣扣")
_CONTACT_ANCHORS = (
    r"add\s++(?:me|us|my)", r"join\s++(?:our|my|the|us)", r"t\.me/", r"line\.me/",
    *(rf"{char}\s*+信" for char in "微威薇徽v"), r"企\s*+[鹅鵝]",
    r"加\s*+(?:(?:我|个|個|一下)\s*+)?(?:的\s*+)?(?:[微威薇徽v]|wx|weixin|wechat|qq|扣扣)",
    r"群(?![众眾体體岛島星落山集居芳英豪发發])",
)
# _WORD_SEPARATORS for the screen: a whitespace run counts as one separator.
_SCREEN_SEPARATORS = r"(?:\s++|[.\-_*·•|/\\~+^'\"`]){0,2}"
# Joins the values screened together (any character the 群 anchor does not look past would do).
_VALUE_JOINER = "\x00"
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@functools.cache
def _format_characters() -> re.Pattern[str]:
    """Unicode category Cf (what _fold removes), as a character class; built on first use."""
    chars = (chr(code) for code in range(0x110000) if unicodedata.category(chr(code)) == "Cf")
    return re.compile("[" + "".join(re.escape(char) for char in chars) + "]")


def _folded_text(text: str) -> str:
    """_fold(text).folded without its index and with whitespace runs left whole (what the screen
    reads), at C speed for ASCII and for normalized text (NFKC text is NFC, and each of its
    characters is its own NFKC form)."""
    if text.isascii():
        return text.lower()
    if unicodedata.is_normalized("NFKC", text) and not _format_characters().search(text):
        return text.casefold()
    return _fold(text).folded


def _trie(entries: Iterable[str]) -> list[str]:
    """The entries as the alternatives of a trie, one per first character (so the regex engine tries
    one branch a position, not one per entry), up to two separators between two characters (a
    whitespace run is one). An entry another one starts with ends the branch: the screen needs only
    the shorter one."""
    root: dict = {}
    for entry in entries:
        node = root
        for char in entry:
            if node.get("") is True:
                break
            node = node.setdefault(char, {})
        else:
            node.clear()
            node[""] = True

    def alternatives(node: dict) -> list[str]:
        return [
            re.escape(char) + ("" if child.get("") is True else _SCREEN_SEPARATORS + branch(child))
            for char, child in sorted(node.items())
        ]

    def branch(node: dict) -> str:
        found = alternatives(node)
        return found[0] if len(found) == 1 else "(?:" + "|".join(found) + ")"

    return alternatives(root)


@dataclass(frozen=True, eq=False)
class SendRules:
    """The rules review_send applies, compiled once for one sensitive-word list (send_rules)."""

    sensitive: list[tuple[str, re.Pattern[str]]]
    screen: re.Pattern[str]  # finds something in every text a rule matches (and in some others)

    def may_find(self, text: str) -> bool:
        """False only when no rule can match `text`, or any part of it: values joined into `text`
        (by any character but 众眾体體岛島星落山集居芳英豪发發, which a rule looks past 群 for) are
        surely approved by review_send."""
        return self.screen.search(_folded_text(text)) is not None


@functools.lru_cache(maxsize=8)
def _compiled_rules(words: tuple[str, ...]) -> SendRules:
    sensitive = _sensitive_patterns(words)
    separator = re.compile(_WORD_SEPARATORS.replace("{0,2}", ""))
    entries = [*_CONTACT_LITERALS]
    for entry, _pattern in sensitive:
        entries.append("".join(char for char in _fold_plain(entry) if not separator.fullmatch(char)))
    # Every alternative starts with a character, so the engine skips the positions no alternative
    # can start at (its charset prefix): most of the text is never tried.
    return SendRules(sensitive, re.compile("|".join([*_trie(entries), *_CONTACT_ANCHORS])))


def send_rules(sensitive_words: Iterable[str]) -> SendRules:
    """The rules for the current sensitive-word list, compiled once per distinct list (a few kept)."""
    return _compiled_rules(tuple(dict.fromkeys(sensitive_words)))


@dataclass(frozen=True)
class _SendTemplate:
    """What review_send reads of a template, worked out once (a batch reviews each recipient)."""

    used: frozenset[str]  # the placeholders' names
    parts: tuple[tuple[str, list[str]], ...]  # (part, its text split at placeholders) where one is
    links: tuple[list[str], ...]  # split targets of links with a placeholder and no invitation alone
    images: tuple[dict[str, str], ...]  # images with a placeholder that are no QR image alone


@functools.lru_cache(maxsize=8)
def _send_template(subject: str, html: str, text: str) -> _SendTemplate:
    content = _parse_html(html or "")
    sources = (("subject", subject or ""), ("html", content.text), ("text", text or ""))
    decoder = installed_qr_decoder()
    return _SendTemplate(
        used=frozenset(placeholders(subject, html, text)),
        parts=tuple((part, _PLACEHOLDER.split(source)) for part, source in sources if "{{" in source),
        links=tuple(
            _PLACEHOLDER.split(link.href) for link in content.links
            if "{{" in link.href and not _INVITE_LINK.search(_fold_plain(link.href))
        ),
        images=tuple(
            attributes for attributes in content.images
            if any("{{" in value for value in attributes.values()) and not _qr_findings([attributes], decoder)
        ),
    )


def _render(pieces: list[str], data: Mapping[str, object]) -> tuple[str, list[tuple[int, int]]]:
    """A text split at its placeholders (literal, name, literal, …) with each name replaced by its
    value ("" without one), and the values' spans. Literals and values are NFC each (as _fold would
    make them), so the spans stay true in the text _fold reads (composed=True)."""
    nfc = functools.partial(unicodedata.normalize, "NFC")
    first = nfc(pieces[0])
    rendered, spans, length = [first], [], len(first)
    for at in range(1, len(pieces), 2):
        value = data.get(pieces[at])
        value = "" if value is None else nfc(str(value))
        literal = nfc(pieces[at + 1])
        if value:
            spans.append((length, length + len(value)))
            length += len(value)
        rendered += (value, literal)
        length += len(literal)
    return "".join(rendered), spans


def _reach(text: str, start: int, step: int) -> int:
    """The position SEND_WINDOW characters of folded text away from `start` (step -1: before it,
    +1: after it), or the text's end: a character _fold drops (Cf) or folds into the whitespace run
    before it does not count, so no padding puts a label out of a value's window. Each other
    character of NFC text folds to at least one character, so the window holds SEND_WINDOW or more."""
    raw = text[max(0, start - SEND_WINDOW):start] if step < 0 else text[start:start + SEND_WINDOW]
    # Every character counts (raw[0] continues no whitespace run: either side, it is the far end or
    # the character next to `start`).
    if raw.isascii() and not raw[:1].isspace() and not _SPACE_RUN.search(raw):
        return start - len(raw) if step < 0 else start + len(raw)
    position, counted, space = start, 0, False
    while counted < SEND_WINDOW and (0 < position if step < 0 else position < len(text)):
        char = text[position - 1] if step < 0 else text[position]
        position += step
        if unicodedata.category(char) == "Cf":
            continue
        if char.isspace():
            if space:
                continue
            space = True
        else:
            space = False
        counted += 1
    return position


def _windows(rendered: str, spans: list[tuple[int, int]]) -> Iterator[tuple[str, list[tuple[int, int]]]]:
    """The text around the values (SEND_WINDOW characters of folded text each side: _reach;
    overlapping ones merged), each with the values' spans in it."""
    merged: list[list] = []
    for start, end in spans:
        begin, finish = _reach(rendered, start, -1), _reach(rendered, end, 1)
        if merged and begin <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], finish)
            merged[-1][2].append((start, end))
        else:
            merged.append([begin, finish, [(start, end)]])
    for begin, finish, inside in merged:
        yield rendered[begin:finish], [(start - begin, end - begin) for start, end in inside]


def review_send(
    rules: SendRules, data: Mapping[str, object], *, subject: str = "", html: str = "", text: str = "",
) -> ReviewResult:
    """Review what a send carries (SPEC §4.1): the template variables, and what they form with the
    template (subject, html, text: the template's parts, {{placeholders}} in them) once rendered.

    The template's own text is not judged again: its review, or staff's verdict, stands.
    1. Each value on its own, by every text rule (the part is the variable's name); given the
       template, only the values it uses (the others are not sent).
    2. Each part rendered as a reader sees it (the HTML's visible text, as delivery escapes values):
       the text around each value by every text rule; a match counts when it takes in a value.
    3. The HTML's links and images whose attributes hold a placeholder, rendered: invitation links
       and QR images the template alone did not have.
    A cheap screen (SendRules.may_find) comes first: text it finds nothing in needs no rule.
    """
    collector = _Collector()
    template = _send_template(subject, html, text) if subject or html or text else None
    values = [
        (str(name), "" if value is None else str(value))
        for name, value in data.items() if template is None or name in template.used
    ]
    if values and rules.may_find(_VALUE_JOINER.join(value for _name, value in values)):
        parts: list[_Part] = [
            (name if _PLACEHOLDER_NAME.fullmatch(name) else "variable", _fold(value), None)
            for name, value in values if rules.may_find(value)
        ]
        _match_text(collector, parts, rules.sensitive)
    if template is not None:
        for part, pieces in template.parts:
            rendered, spans = _render(pieces, data)
            if not spans or not rules.may_find(rendered):
                continue
            for window, inside in _windows(rendered, spans):
                if rules.may_find(window):
                    _match_text(collector, [(part, _fold(window, composed=True), inside)], rules.sensitive)
        for pieces in template.links:
            href, _spans = _render(pieces, data)
            if _INVITE_LINK.search(_fold_plain(href)):
                collector.add(Finding(GROUP_INVITATION, href[:200], MESSAGES[GROUP_INVITATION], "html"))
        for attributes in template.images:
            rendered_attributes = {name: _render(_PLACEHOLDER.split(value), data)[0] for name, value in attributes.items()}
            for finding in _qr_findings([rendered_attributes], installed_qr_decoder()):
                collector.add(finding)
    return ReviewResult(REJECTED if collector.findings else APPROVED, collector.findings)
