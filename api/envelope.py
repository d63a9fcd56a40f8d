"""The response envelope of the cloud API.

Always HTTP 200 and exactly `Content-Type: application/json`: the SDK raises a network error on
any other status, and only parses the error body when the content type is exactly that.
"""

from __future__ import annotations

import uuid

from django.http import JsonResponse


def new_request_id() -> str:
    return str(uuid.uuid4())


def _response(body: dict) -> JsonResponse:
    return JsonResponse(
        {"Response": body}, status=200, content_type="application/json",
        json_dumps_params={"ensure_ascii": False},
    )


def success(data: dict, request_id: str) -> JsonResponse:
    return _response({**data, "RequestId": request_id})


def error(code: str, message: str, request_id: str) -> JsonResponse:
    return _response({"Error": {"Code": code, "Message": message}, "RequestId": request_id})
