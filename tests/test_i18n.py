"""The console in English, Japanese and Simplified Chinese (issue 7, "Languages").

The catalogs are complete and current, no template shows text outside a translation tag, pages follow
the browser's language and the switcher, API messages follow X-TC-Language, and the platform's emails
follow the language each member last used.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import translation
from django.utils.translation import trans_real

from accounts.models import ApiKey, Membership
from api.tests.signing import post, signed_headers, wait_for_the_next_second
from domains.models import DomainDay
from domains.reputation.services import get_day
from notify import services as notify_services
from sesconsole import catalogs
from tests import needs

ROOT = Path(settings.BASE_DIR)
TRANSLATED = ("ja", "zh_Hans")


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogs():
    # bin/dev compiles them; a bare `pytest` on a fresh clone must not test stale or missing .mo files.
    if catalogs.compile_catalogs():
        trans_real._translations = {}
        trans_real._default = None


@pytest.fixture(autouse=True)
def _english_afterwards():
    # A request activates its language in the thread and nothing deactivates it: later tests in this
    # process must not read Japanese from gettext().
    yield
    translation.activate(settings.LANGUAGE_CODE)


# --- the catalogs ------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"%\([^)]+\)[sdr]|%%")


def _entries(language: str) -> polib.POFile:
    return polib.pofile(str(ROOT / "locale" / language / "LC_MESSAGES" / "django.po"))


def _key(entry: polib.POEntry) -> tuple[str | None, str, str]:
    return entry.msgctxt, entry.msgid, entry.msgid_plural


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(language):
    po = _entries(language)
    assert len(po) > 600  # the console, emails, review reasons and API messages
    problems = []
    for entry in po:
        if entry.obsolete:
            continue
        texts = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        elif not all(t.strip() for t in texts):
            problems.append(f"untranslated: {entry.msgid!r}")
        else:
            # A translation that drops or invents a placeholder breaks at run time (KeyError) or loses data.
            source = entry.msgid_plural or entry.msgid
            for text in texts:
                if sorted(PLACEHOLDER.findall(text)) not in (
                    sorted(PLACEHOLDER.findall(source)), sorted(PLACEHOLDER.findall(entry.msgid))
                ):
                    problems.append(f"placeholders differ: {entry.msgid!r} → {text!r}")
    assert problems == []


def test_japanese_uses_the_terms_of_the_original_rules_document():
    # /work/shared/seed/reputation-levels.ja.md: 1日あたりの最大送信数, 到達率, 無効なアドレス率, 作業依頼書…
    ja = {entry.msgid: entry.msgstr for entry in _entries("ja")}
    assert ja["Daily cap"] == "1日あたりの最大送信数"
    assert ja["Delivery rate"] == "到達率"
    assert ja["Invalid address rate"] == "無効なアドレス率"
    assert ja["Spam bounce rate"] == "スパムメール返却率"
    assert "作業依頼書" in ja["File work order"]


def test_the_catalogs_hold_exactly_the_messages_of_the_source(tmp_path):
    if shutil.which("xgettext") is None:
        needs.missing("GNU gettext's xgettext, which makemessages runs")
    written = catalogs.make_messages(tmp_path, languages=("ja",))
    fresh = {_key(e) for e in polib.pofile(str(written / "ja" / "LC_MESSAGES" / "django.po"))}
    assert len(fresh) > 600
    for language in TRANSLATED:
        committed = {_key(e) for e in _entries(language) if not e.obsolete}
        missing, stale = sorted(fresh - committed, key=str), sorted(committed - fresh, key=str)
        assert (missing, stale) == ([], []), (
            f"locale/{language} is out of date: run `.venv/bin/python -m sesconsole.catalogs --update` "
            "and translate the new entries (docs/i18n.md)"
        )


def test_the_pure_python_compiler_builds_catalogs_gettext_reads(tmp_path):
    import gettext

    shutil.copytree(ROOT / "locale", tmp_path / "locale", ignore=shutil.ignore_patterns("*.mo"))
    compiled = catalogs.compile_catalogs(tmp_path / "locale", use_msgfmt=False)
    assert len(compiled) == len(TRANSLATED)
    with open(tmp_path / "locale" / "ja" / "LC_MESSAGES" / "django.mo", "rb") as fp:
        ja = gettext.GNUTranslations(fp)
    assert ja.gettext("Sign in") == "サインイン"
    assert catalogs.stale(tmp_path / "locale") == []


# --- every template string is translatable ----------------------------------------------------------

_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", re.S)
_BLOCKTRANSLATE = re.compile(r"\{%\s*blocktrans(?:late)?\b.*?%\}.*?\{%\s*endblocktrans(?:late)?\s*%\}", re.S)
_COMMENT = re.compile(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", re.S)
# Markup whose content nobody reads as text: comments, scripts, styles, code samples.
_HTML = re.compile(r"<!--.*?-->|<(script|style|code|pre)\b.*?</\1\s*>|<[^>]*>", re.S | re.I)
_READ_ATTRIBUTES = re.compile(r"""\b(title|alt|placeholder|aria-label|aria-description|label)\s*=\s*("[^"]*"|'[^']*')""", re.I)
_LETTER = re.compile(r"[^\W\d_]")
_ENTITY = re.compile(r"&#?\w+;")

# Text that is the same in every language, with the reason.
ALLOWED = {
    "sesconsole",  # the product's name
    "· sesconsole",  # the title's suffix: the product's name
    # admin's <body class="…"> (CSS classes, not text)
    "{{ block.super }} app-{{ opts.app_label }} model-{{ opts.model_name }} staff-action",
}


def _masked(source: str) -> str:
    """The source with comments and translated parts blanked out (\x03), other template tags as \x01
    (block) or \x02 (variable), every position unchanged."""
    chars = list(source)

    def blank(match, char):
        chars[match.start():match.end()] = char * (match.end() - match.start())

    for pattern in (_COMMENT, _BLOCKTRANSLATE):
        for match in pattern.finditer("".join(chars)):
            blank(match, "\x03")
    for match in _TAG.finditer("".join(chars)):
        tag = match.group(0)
        if "\x03" in tag:
            continue
        if tag.startswith("{{"):
            blank(match, "\x02")
        elif re.match(r"\{%\s*(translate|trans)\s", tag):
            blank(match, "\x03")
        else:
            blank(match, "\x01")
    return "".join(chars)


def _has_words(text: str) -> bool:
    return bool(_LETTER.search(_ENTITY.sub("", text.replace("\x02", ""))))


def untranslated_text(source: str) -> list[str]:
    """Text a reader sees (between tags, or in title/alt/placeholder/aria-label) outside translation tags."""
    masked = _masked(source)
    found, position = [], 0

    def text_between(start: int, end: int) -> None:
        for part in re.finditer(r"[^\x01\x03]+", masked[start:end]):
            if _has_words(part.group(0)):
                found.append(source[start + part.start():start + part.end()].strip())

    for tag in _HTML.finditer(masked):
        text_between(position, tag.start())
        if tag.group(1) is None and not tag.group(0).startswith("<!--"):
            for attribute in _READ_ATTRIBUTES.finditer(tag.group(0)):
                value = attribute.group(2)[1:-1]
                if _has_words(value.replace("\x01", "").replace("\x03", "")):
                    begin = tag.start() + attribute.start(2) + 1
                    found.append(source[begin:begin + len(value)])
        position = tag.end()
    text_between(position, len(masked))
    return [text for text in found if text not in ALLOWED]


def _template_files() -> list[Path]:
    files = sorted((ROOT / "templates").rglob("*.html"))
    for app in ("accounts", "domains", "stats", "api", "ops", "sending", "batches", "notify"):
        files += sorted((ROOT / app / "templates").rglob("*.html"))
    return files


def test_the_template_check_finds_untranslated_text():
    source = (
        '{% load i18n %}<h1>{% translate "Dashboard" %}</h1><p>Sent today</p>'
        '<input placeholder="Search by name" aria-label="{% translate "Search" %}">'
        "{% blocktranslate %}{{ n }} of {{ cap }}{% endblocktranslate %} {{ n }} left"
        '<code>X-TC-Action: ListEmailIdentities</code>{# a comment #}<!-- markup comment -->'
    )
    assert untranslated_text(source) == ["Sent today", "Search by name", "{{ n }} left"]


def test_every_template_string_is_inside_a_translation_tag():
    files = _template_files()
    assert len(files) > 40
    problems = {
        str(path.relative_to(ROOT)): text
        for path in files
        if (text := untranslated_text(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


# --- pages in the reader's language ------------------------------------------------------------------


def _page(client: Client, url: str, accept_language: str | None) -> str:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("accept_language", "lang", "texts"),
    [
        (None, "en", ["<h1>Sign in</h1>", "Email or user name", "Times are shown in the platform time zone, UTC."]),
        ("ja,en;q=0.8", "ja", ["<h1>サインイン</h1>", "メールアドレスまたはユーザー名", "プラットフォームのタイムゾーン（UTC）"]),
        ("zh-Hans,zh;q=0.9", "zh-hans", ["<h1>登录</h1>", "邮箱或用户名", "平台时区（UTC）"]),
        ("zh-CN", "zh-hans", ["<h1>登录</h1>"]),
    ],
)
def test_the_login_page_follows_the_browsers_language(client, db, accept_language, lang, texts):
    page = _page(client, "/login/", accept_language)
    assert f'<html lang="{lang}">' in page
    for text in texts:
        assert text in page


@pytest.mark.parametrize(
    ("accept_language", "texts", "english"),
    [
        ("ja", ["ダッシュボード", "送信ドメイン名ごとの本日の状況", "本日の送信数 0 / 500", "無効なアドレス率", "凍結なし"],
         ["Today per sender domain", "Invalid address rate"]),
        ("zh-Hans", ["仪表盘", "各发信域名今日情况", "今日已发送 0 / 500", "无效地址率", "未冻结"],
         ["Today per sender domain", "Invalid address rate"]),
    ],
)
def test_the_dashboard_in_japanese_and_chinese(client, member, verified_domain, accept_language, texts, english):
    client.force_login(member)
    page = _page(client, "/dashboard/", accept_language)
    for text in texts:
        assert text in page
    for text in english:
        assert text not in page


@pytest.mark.parametrize(
    ("accept_language", "texts"),
    [
        ("ja", ["1日あたりの最大送信数", "登録する DNS レコード", "レベル履歴", "次のレベルまで", "到達率"]),
        ("zh-Hans", ["每日发送上限", "需发布的 DNS 记录", "等级历史", "距离下一级", "送达率"]),
    ],
)
def test_the_domain_page_in_japanese_and_chinese(client, member, verified_domain, accept_language, texts):
    client.force_login(member)
    page = _page(client, f"/domains/{verified_domain.pk}/", accept_language)
    assert verified_domain.name in page
    for text in texts:
        assert text in page
    assert "DNS records to publish" not in page


def test_the_statistics_page_and_its_charts_in_japanese(client, member, verified_domain):
    client.force_login(member)
    page = _page(client, "/stats/", "ja")
    assert "<h1>データ統計</h1>" in page and "日別" in page and "CSV をダウンロード" in page
    # The charts' JSON (ASCII-escaped): titles worded for this request.
    assert json.dumps({"text": "日ごとの送信量"})[1:-1] in page
    assert json.dumps("到達率（送信数に対する %）") in page
    assert '"text": "Daily volumes"' in _page(client, "/stats/", None)  # and not cached in Japanese


def test_numbers_are_grouped_the_way_the_locale_groups_them(client, member, verified_domain):
    DomainDay.objects.filter(pk=get_day(verified_domain).pk).update(sent=1234, cap=20_000)
    client.force_login(member)
    assert "1,234 of 20,000 sent today" in _page(client, "/dashboard/", None)
    assert "本日の送信数 1,234 / 20,000" in _page(client, "/dashboard/", "ja")
    # Django's zh_Hans formats write no thousands separator.
    assert "今日已发送 1234 / 20000" in _page(client, "/dashboard/", "zh-Hans")


def test_the_switcher_changes_the_language_and_remembers_it(client, member, verified_domain):
    client.force_login(member)
    page = _page(client, "/dashboard/", None)
    # A labelled select and a submit button: usable with the keyboard alone.
    assert '<label for="language-select">Language</label>' in page
    assert '<select name="language" id="language-select">' in page
    assert '<option value="ja" lang="ja">日本語</option>' in page

    response = client.post("/i18n/setlang/", {"language": "ja", "next": "/dashboard/"})

    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    page = _page(client, "/dashboard/", "zh-Hans")  # the choice beats the browser's language
    assert '<html lang="ja">' in page and "<h1>ダッシュボード</h1>" in page
    assert '<option value="ja" lang="ja" selected>日本語</option>' in page
    assert Membership.objects.get(user=member).language == "ja"

    client.post("/i18n/setlang/", {"language": "en", "next": "/dashboard/"})
    assert "<h1>Dashboard</h1>" in _page(client, "/dashboard/", "ja")
    assert Membership.objects.get(user=member).language == "en"


def test_a_rejected_templates_reasons_are_in_the_readers_language(client, member, verified_domain):
    from sending.services import create_template

    template = create_template(
        member.membership.account, name="promo", subject="Hello", html="<p>加我微信：abc12345</p>",
        text="", transactional=True,
    )
    assert template.review_reason.startswith("[wechat]")  # stored in English, once
    client.force_login(member)

    ja = _page(client, f"/templates/{template.pk}/", "ja")
    zh = _page(client, f"/templates/{template.pk}/", "zh-Hans")

    assert "WeChat の連絡先情報は許可されていません。" in ja
    assert "不允许包含微信联系方式。" in zh
    assert "abc12345" in ja and "abc12345" in zh  # the quote stays as written


@pytest.mark.parametrize(
    ("accept_language", "lang", "question", "done"),
    [
        ("ja", "ja", "から <strong>reader@example.org</strong> へのメールを停止しますか？", "購読を解除しました"),
        ("zh-Hans", "zh-hans", "发给 <strong>reader@example.org</strong> 的邮件吗？", "您已退订"),
    ],
)
def test_the_unsubscribe_pages_speak_the_recipients_language(client, verified_domain, accept_language, lang, question, done):
    from sending import tracking
    from sending.tests.inbound_fixtures import make_message

    path = "/t/" + tracking.unsubscribe_url(make_message(verified_domain, "reader@example.org")).split("/t/", 1)[1]
    page = _page(client, path, accept_language)
    assert f'<html lang="{lang}">' in page and question in page

    response = client.post(path, {"List-Unsubscribe": "One-Click"}, headers={"Accept-Language": accept_language})
    assert response.status_code == 200 and done in response.content.decode()


# --- API messages in X-TC-Language ---------------------------------------------------------------------


def _api_error(client: Client, account, language: str | None, action: str = "GetEmailIdentity") -> dict:
    key, secret = ApiKey.issue(account)
    body = b"{}"
    headers = signed_headers(key.secret_id, secret, action, body)
    if language:
        headers["X-TC-Language"] = language
    response = post(client, body, headers)
    assert response.status_code == 200
    return response.json()["Response"]["Error"]


@pytest.mark.parametrize(
    ("language", "message"),
    [
        (None, "The parameter EmailIdentity is required."),
        ("en-US", "The parameter EmailIdentity is required."),
        ("ja-JP", "パラメータ EmailIdentity は必須です。"),
        ("zh-CN", "参数 EmailIdentity 为必填项。"),
        ("fr-FR", "The parameter EmailIdentity is required."),
    ],
)
def test_api_error_messages_follow_x_tc_language_and_codes_never_change(client, account, language, message):
    error = _api_error(client, account, language)
    assert error == {"Code": "MissingParameter", "Message": message}


def test_the_browsers_language_does_not_change_api_messages(client, account):
    key, secret = ApiKey.issue(account)
    headers = signed_headers(key.secret_id, secret, "GetEmailIdentity", b"{}")
    response = client.post("/", data=b"{}", content_type="application/json", headers={**headers, "Accept-Language": "ja"})
    assert response.json()["Response"]["Error"]["Message"] == "The parameter EmailIdentity is required."


def test_the_official_sdk_reads_errors_in_its_language(live_server, transactional_db, account):
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.ses.v20201002 import models, ses_client

    key, secret = ApiKey.issue(account)
    messages = {}
    for language in ("zh-CN", "en-US"):  # the Python SDK offers these two (zh-CN by default)
        http = HttpProfile(protocol="http", endpoint=f"{live_server.thread.host}:{live_server.thread.port}")
        profile = ClientProfile(httpProfile=http, language=language)
        ses = ses_client.SesClient(credential.Credential(key.secret_id, secret), "ap-guangzhou", profile)
        request = models.GetEmailIdentityRequest()
        request.EmailIdentity = "mail.nobody.example"
        with pytest.raises(TencentCloudSDKException) as excinfo:
            ses.GetEmailIdentity(request)
        assert excinfo.value.code == "ResourceNotFound"
        messages[language] = excinfo.value.message
        wait_for_the_next_second()  # the same body again (X-TC-Language is not signed)
    assert messages == {"zh-CN": "发信域名不存在。", "en-US": "The sender domain does not exist."}


def test_a_template_review_reason_reaches_the_sdk_in_its_language(client, account):
    from sending.services import create_template

    template = create_template(account, name="promo", subject="Hi", html="<p>QQ群 123456789</p>", text="")
    key, secret = ApiKey.issue(account)
    body = b'{"Limit": 10, "Offset": 0}'
    headers = {**signed_headers(key.secret_id, secret, "ListEmailTemplates", body), "X-TC-Language": "ja-JP"}
    [row] = post(client, body, headers).json()["Response"]["TemplatesMetadata"]
    assert row["TemplateID"] == template.pk and row["TemplateStatus"] == 2
    assert "QQ 番号や QQ グループは許可されていません。" in row["ReviewReason"]


# --- the platform's emails ----------------------------------------------------------------------------


def test_a_notification_email_is_in_the_language_each_member_last_used(
    client, owner, member, verified_domain, django_capture_on_commit_callbacks
):
    # Bob picks Japanese in the switcher; Alice never changes anything (English, the default).
    client.force_login(member)
    client.post("/i18n/setlang/", {"language": "ja", "next": "/dashboard/"})
    _page(client, "/dashboard/", None)
    DomainDay.objects.filter(pk=get_day(verified_domain).pk).update(sent=450, requested=450)

    with django_capture_on_commit_callbacks(execute=True):
        assert notify_services.warn_domains_near_cap() == "warned about 1 domain(s) near their cap"

    emails = {m.to[0]: m for m in mail.outbox}
    bob, alice = emails["bob@example.com"], emails["alice@example.com"]
    assert bob.subject == "[sesconsole] mail.alice.example は本日の最大送信数の 90% を使用しました"
    assert "最大送信数 500 通のうち 450 通を送信しました（90%）" in bob.body
    assert "作業依頼書" in bob.body
    assert alice.subject == "[sesconsole] mail.alice.example has used 90% of today's cap"
    assert "has sent 450 of its 500 messages today (90%)" in alice.body

    # The console shows the stored notification in the page's language, whoever reads it.
    page = _page(client, "/notifications/", None)
    assert "mail.alice.example は本日の最大送信数の 90% を使用しました" in page
    with translation.override("zh-hans"):
        notification = notify_services.Notification.objects.get()
        assert notification.localized_subject == "mail.alice.example 已使用今日发送上限的 90%"
