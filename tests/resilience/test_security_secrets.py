"""Security: the secrets we must read back are encrypted at rest (core/crypto.py).

API SecretKeys, DKIM private keys and event-callback signing secrets: the raw column, read with a
plain cursor, does not hold the plaintext (nor does any other column of any table), and decrypting
it with core/crypto.py, under this installation's key only, gives the secret back.
"""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from django.db import connection

from accounts.models import ApiKey
from api.tests.signing import call, error_code
from core import crypto
from domains.models import SenderDomain
from notify.models import CallbackEndpoint

pytestmark = pytest.mark.django_db


def raw_column(table: str, column: str, where: str, value) -> str:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn(column)} FROM {qn(table)} WHERE {qn(where)} = %s", [value])
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return rows[0][0]


def _text(cell) -> str:
    if isinstance(cell, memoryview):
        cell = bytes(cell)
    if isinstance(cell, bytes):
        return cell.decode("utf-8", "replace")
    return str(cell)


def tables_holding(text: str) -> list[str]:
    """Every table with a cell whose text contains `text` (a plain scan of the whole database)."""
    qn = connection.ops.quote_name
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {qn(table)}")
            for row in cursor.fetchall():
                if any(text in _text(cell) for cell in row):
                    found.append(table)
                    break
    return found


def test_an_api_secret_key_is_encrypted_at_rest(client, owner, settings):
    client.force_login(owner)
    page = client.post("/api-keys/new/").content.decode()
    secret_id = re.search(r'id="secret-id">([^<]+)<', page).group(1)
    secret_key = re.search(r'id="secret-key">([^<]+)<', page).group(1)
    assert len(secret_key) >= 32

    raw = raw_column(ApiKey._meta.db_table, "secret_key_encrypted", "secret_id", secret_id)
    assert secret_key not in raw
    assert base64.b64encode(secret_key.encode()).decode() not in raw
    assert tables_holding(secret_key) == []
    assert crypto.decrypt(raw) == secret_key
    # The key it shows is the key that signs: the API takes it.
    client.logout()
    assert error_code(call(client, secret_id, secret_key, "ListEmailIdentities")) is None

    # Under another installation's key the column is useless.
    settings.SES_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(ValueError):
        crypto.decrypt(raw)


def test_a_dkim_private_key_is_encrypted_at_rest(client, owner):
    client.force_login(owner)
    response = client.post("/domains/", {"name": "mail.secret.example", "dkim_option": "0"})
    assert response.status_code in (200, 302)
    domain = SenderDomain.objects.get(name="mail.secret.example")

    raw = raw_column(SenderDomain._meta.db_table, "dkim_private_key_encrypted", "name", "mail.secret.example")
    assert "PRIVATE KEY" not in raw
    pem = crypto.decrypt(raw)
    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    # It is the key whose public half the customer publishes in DNS.
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert base64.b64encode(public_der).decode() == domain.dkim_public_key
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    for chunk in (body[:48], body[100:148], body[-48:]):
        assert chunk not in raw
        assert tables_holding(chunk) == []


def test_a_callback_signing_secret_is_encrypted_at_rest(account):
    endpoint = CallbackEndpoint(account=account, url="https://hooks.alice.example/ses")
    secret = endpoint.new_secret()
    endpoint.save()

    raw = raw_column(CallbackEndpoint._meta.db_table, "secret_encrypted", "account_id", account.pk)
    assert secret not in raw
    assert tables_holding(secret) == []
    assert crypto.decrypt(raw) == secret


def test_the_scan_would_find_a_plaintext_secret(account):
    """The harness itself: a secret stored as is is found by both checks."""
    key = ApiKey.objects.create(account=account, secret_key_encrypted="plain-secret-0123456789abcdef")
    raw = raw_column(ApiKey._meta.db_table, "secret_key_encrypted", "secret_id", key.secret_id)
    assert "plain-secret-0123456789abcdef" in raw
    assert tables_holding("plain-secret-0123456789abcdef") == [ApiKey._meta.db_table]
    with pytest.raises(ValueError):
        crypto.decrypt(raw)
