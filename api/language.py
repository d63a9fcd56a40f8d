"""The language of API error messages: the X-TC-Language header, as the Tencent Cloud SDK sends it.

The SDK sends "zh-CN", "en-US" or "ja-JP" (ClientProfile(language=...)); without the header, or with
a language we do not have, messages are in English (en-US), whatever the caller's Accept-Language
says. Only the Message is translated: the Code is the SDK's contract and stays as it is.
"""

from __future__ import annotations

import functools

from django.utils import translation

DEFAULT = "en"
# X-TC-Language (lower-cased) -> one of settings.LANGUAGES
LANGUAGES = {"en-us": "en", "en": "en", "ja-jp": "ja", "ja": "ja", "zh-cn": "zh-hans", "zh": "zh-hans"}


def api_language(header: str | None) -> str:
    return LANGUAGES.get((header or "").strip().lower(), DEFAULT)


def in_api_language(view):
    """Run the view with X-TC-Language active, so every gettext() below it answers in that language."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        with translation.override(api_language(request.headers.get("X-TC-Language"))):
            return view(request, *args, **kwargs)

    return wrapper
