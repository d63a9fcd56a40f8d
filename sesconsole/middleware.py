"""Console middleware of the project itself.

    UnusableInputMiddleware     a console request whose path, query string or form fields hold an
                                unusable character (core.unusable) gets a 400 page naming the
                                field and the character, before any view reads them
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core import unusable

# The bodies Django parses into request.POST; any other body is the view's own to read.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _first_unusable(request: HttpRequest) -> tuple[str, str] | None:
    """(the field, the character): the first unusable character of the path, the query string or
    the form's names and values."""
    index = unusable.first(request.path)
    if index >= 0:
        return _("the page address"), request.path[index]
    sources = [request.GET]
    if request.method == "POST" and request.content_type in FORM_TYPES:
        sources.append(request.POST)
    for params in sources:
        for key, values in params.lists():
            for text in (key, *values):
                index = unusable.first(text)
                if index >= 0:
                    return unusable.clipped(unusable.shown(key)), text[index]
    return None


class UnusableInputMiddleware:
    """One place for the whole console (views read request.GET and request.POST in many places,
    forms or not): the check runs once the view is known, so that the machine endpoints marked with
    unusable.exempt answer in their own format, and after CsrfViewMiddleware, so that a forged
    form is refused as forged first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if getattr(view_func, "unusable_input_exempt", False):
            return None
        found = _first_unusable(request)
        if found is None:
            return None
        field, char = found
        return render(request, "unusable_input.html", {"field": field, "char": unusable.code_point(char)}, status=400)
