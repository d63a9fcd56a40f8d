"""The console shell: sign-in pages, the API keys page, and placeholders for pages still to come."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.forms.utils import ErrorDict
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import ratelimit
from accounts.models import ApiKey


def account_required(view):
    """@login_required, and the user must be a member of an account.

    Staff without a membership would otherwise meet a crash or an empty console; they get a page
    that says so (with the way to admin).
    """

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.account is None:
            return render(request, "accounts/no_account.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _get_api_key_for_account(request: HttpRequest, pk: int) -> ApiKey:
    # Another account's key is as good as missing: 404, never its data.
    return get_object_or_404(ApiKey, pk=pk, account=request.account)


# --- Signing in ----------------------------------------------------------------------------------


class RateLimitedLoginView(LoginView):
    """Django's sign-in, refused with 429 once an address or a user name has failed too often.

    Each attempt is counted per client address, per user name and address, and per user name
    (accounts.ratelimit) before its password is tried; past a limit even the right password is
    refused until the window ends, so guessing stops. A successful sign-in gives its hits back.
    """

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.attempt = ratelimit.begin_login(request, request.POST.get("username", ""))
        if self.attempt.refused:
            return self._refused(self.attempt.retry_after)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        self.attempt.succeeded()
        return super().form_valid(form)

    def _refused(self, retry_after: int) -> HttpResponse:
        form = self.get_form()  # bound to what was typed, but never checked: no password is tried
        form._errors = ErrorDict()
        form.cleaned_data = {}
        form.add_error(None, ratelimit.login_refused_message(retry_after))
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(retry_after)
        return response


# --- API keys ------------------------------------------------------------------------------------


def _api_keys_context(request: HttpRequest) -> dict:
    return {"keys": request.account.api_keys.order_by("-created_at", "-pk")}


@account_required
def api_keys(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/api_keys.html", _api_keys_context(request))


@never_cache  # the one response that carries the SecretKey must not come back from a cache
@require_POST
@account_required
def api_key_create(request: HttpRequest) -> HttpResponse:
    key, secret_key = ApiKey.issue(request.account)
    return render(request, "accounts/api_key_created.html", {"key": key, "secret_key": secret_key})


def _set_enabled(request: HttpRequest, pk: int, enabled: bool) -> HttpResponse:
    key = _get_api_key_for_account(request, pk)
    key.enabled = enabled
    key.save(update_fields=["enabled"])
    if request.htmx:
        # The swapped row shows the new state; a message would only surface on a later page.
        return render(request, "accounts/api_keys.html#keys", _api_keys_context(request))
    if enabled:
        text = _("API key %(secret_id)s is enabled.")
    else:
        text = _("API key %(secret_id)s is disabled: requests signed with it are refused.")
    messages.success(request, text % {"secret_id": key.secret_id})
    return redirect("api-keys")


@require_POST
@account_required
def api_key_disable(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_enabled(request, pk, False)


@require_POST
@account_required
def api_key_enable(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_enabled(request, pk, True)


@account_required
def api_key_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    key = _get_api_key_for_account(request, pk)
    if request.method == "POST":
        secret_id = key.secret_id
        key.delete()
        messages.success(request, _("API key %(secret_id)s is deleted.") % {"secret_id": secret_id})
        return redirect("api-keys")
    return render(request, "accounts/api_key_delete.html", {"key": key})


# --- Pages still to come -------------------------------------------------------------------------

# Each later issue replaces its URL with the real page; until then the navigation already leads here.
COMING_SOON: dict[str, str] = {}


@account_required
def coming_soon(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in COMING_SOON:
        raise Http404("No such page")
    return render(request, "accounts/coming_soon.html", {"title": COMING_SOON[slug]})
