"""The help pages: plain explanations of the reputation rules (domains/help.py builds them from settings)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from domains import help as rules_help
from domains.reputation import levels


@login_required
def rules(request: HttpRequest) -> HttpResponse:
    context = {
        "sections": rules_help.sections(),
        "metrics": rules_help.metrics(),
        "level_table": rules_help.level_table(),
        "top_level": levels.top_level(),
        "upgrade_shares": rules_help.upgrade_shares(),
        "exact_example": rules_help.exact_example(),
        "cap_warning_percent": levels.cap_warning_percent(),
    }
    return render(request, "help/rules.html", context)
