"""Encryption at rest for secrets we must be able to read back (API SecretKeys, DKIM private keys).

Fernet (AES-128-CBC + HMAC-SHA256). The key is SES_ENCRYPTION_KEY, or one derived from SECRET_KEY.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _fernet(key_material: str) -> Fernet:
    if settings.SES_ENCRYPTION_KEY:
        return Fernet(settings.SES_ENCRYPTION_KEY.encode())
    digest = hashlib.sha256(b"sesconsole-encryption:" + key_material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plaintext: str) -> str:
    return _fernet(settings.SES_ENCRYPTION_KEY or settings.SECRET_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.SES_ENCRYPTION_KEY or settings.SECRET_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt: wrong SES_ENCRYPTION_KEY / SECRET_KEY or corrupt value") from exc
