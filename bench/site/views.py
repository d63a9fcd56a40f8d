"""The trivial view the admission benchmark compares SendEmail with: one row inserted per request.

It runs behind the same middleware, in the same gunicorn workers, against the same database as
the API. The table (bench_baseline_row) is created by bench/admission.py, not by a migration.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

TABLE = "bench_baseline_row"


@csrf_exempt
@require_POST
def baseline(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (body) VALUES (%s) RETURNING id", [request.body[:1000].decode()])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"Response": {"Id": row_id}})
