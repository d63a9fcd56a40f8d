"""The console pages that gather several floors: the account's home page (the dashboard)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.views import account_required
from console.dashboard import dashboard_for


@account_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "console/dashboard.html", {"dashboard": dashboard_for(request.account)})
