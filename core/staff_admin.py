"""The staff admin's building blocks, shared by every app's admin.

    ReadOnlyAdmin       records the engine writes: staff look, nobody edits
    staff_action_page   an admin action's intermediate page: ask for input (a reason), then perform it
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the engine writes: staff look, nobody edits (the history must stay true)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_staff_action_permission(self, request) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


def staff_action_page(
    modeladmin: admin.ModelAdmin,
    request,
    queryset,
    *,
    form_class: type[forms.Form],
    title: str,
    intro: str,
    submit_label: str,
    perform: Callable[[dict], None],
    refusals: tuple[type[Exception], ...] = (),
    initial: dict | None = None,
):
    """An admin action's intermediate page: ask for input, then `perform` it.

    A refusal from the service (one of `refusals`) is shown on the same page, and the service has
    written nothing. Returning None sends the browser back to the changelist.
    """
    if request.POST.get("apply"):
        form = form_class(request.POST)
        if form.is_valid():
            try:
                perform(form.cleaned_data)
            except refusals as exc:
                form.add_error(None, str(exc))
            else:
                return None
    else:
        form = form_class(initial=initial)
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "intro": intro,
        "submit_label": submit_label,
        "form": form,
        "queryset": queryset,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/staff_action_form.html", context)
