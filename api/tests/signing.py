"""Sign requests exactly as the official SDK does (tencentcloud.common.abstract_client), for the
in-process tests that need to send what the SDK never would: stale timestamps, broken bodies…

The SDK signs neither X-TC-Action nor a nonce, so two requests with the same body signed in the same
second have the same signature, and the server accepts a write's signature once (api/replay.py).
Unless told a timestamp, signed_headers() is a client that never sends a signature twice: a request
that would repeat one is signed a second earlier (still inside the window), as if the client had waited. Tests
that replay a request send the same headers again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time

from django.test import Client

HOST = "testserver"


def tc3_signature(
    secret_key: str, *, body: bytes, timestamp: int, date: str, service: str = "ses",
    host: str = HOST, content_type: str = "application/json", path: str = "/", action: str | None = None,
) -> str:
    """The SDK's signature; with `action`, x-tc-action is signed too (as Tencent's documentation shows)."""
    headers, names = f"content-type:{content_type}\nhost:{host}\n", "content-type;host"
    if action is not None:
        headers, names = f"{headers}x-tc-action:{action.lower()}\n", f"{names};x-tc-action"
    canonical_request = "\n".join(["POST", path, "", headers, names, hashlib.sha256(body).hexdigest()])
    string_to_sign = "\n".join([
        "TC3-HMAC-SHA256", str(timestamp), f"{date}/{service}/tc3_request",
        hashlib.sha256(canonical_request.encode()).hexdigest(),
    ])

    def _hmac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing_key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    secret_id: str, secret_key: str, action: str, body: bytes, *,
    timestamp: int | None = None, date: str | None = None, service: str = "ses",
    version: str = "2020-10-02", host: str = HOST,
) -> dict[str, str]:
    if timestamp is None:
        timestamp, date, signature = _fresh_signature(secret_id, secret_key, body, date, service, host)
    else:
        date = date or _utc_date(timestamp)
        signature = tc3_signature(secret_key, body=body, timestamp=timestamp, date=date, service=service, host=host)
    return {
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Region": "ap-guangzhou",
        "Authorization": (
            f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={signature}"
        ),
    }


def _utc_date(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


# (SecretId, signature) of every request signed here without a given timestamp.
_signed: set[tuple[str, str]] = set()
# A repeat goes back at most this far: the server's window is 300 s.
_MOST_SECONDS_BACK = 240


def _fresh_signature(secret_id, secret_key, body, date, service, host) -> tuple[int, str, str]:
    now = int(time.time())
    for timestamp in range(now, now - _MOST_SECONDS_BACK, -1):
        day = date or _utc_date(timestamp)
        signature = tc3_signature(secret_key, body=body, timestamp=timestamp, date=day, service=service, host=host)
        if (secret_id, signature) not in _signed:
            _signed.add((secret_id, signature))
            return timestamp, day, signature
    raise AssertionError(f"{_MOST_SECONDS_BACK} requests with one body in one second: each would be a replay")


def wait_for_the_next_second() -> None:
    """What a client of the official SDK does before it sends a body it sent this second (to any
    action): otherwise the request carries the same signature and is refused as a replay."""
    time.sleep(1.01 - time.time() % 1)


def post(client: Client, body: bytes, headers: dict[str, str], content_type: str = "application/json"):
    return client.post("/", data=body, content_type=content_type, headers=headers)


def call(client: Client, secret_id: str, secret_key: str, action: str, params=None, *, body: bytes | None = None, **sign) -> dict:
    """POST a signed request; returns the parsed `Response` object after checking the envelope."""
    if body is None:
        body = json.dumps({} if params is None else params).encode()
    response = post(client, body, signed_headers(secret_id, secret_key, action, body, **sign))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()["Response"]
    assert data["RequestId"]
    return data


def error_code(data: dict) -> str | None:
    return data.get("Error", {}).get("Code")
