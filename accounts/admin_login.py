"""The admin's sign-in under the same rate limits as the console's (accounts.ratelimit).

Installed on admin.site by AccountsConfig.ready: without it, /admin/login/ would be a way around the
limits of /login/ (and staff accounts are the ones worth guessing). Refused attempts are answered as
/login/ answers them: 429 with Retry-After and the form error.
"""

from __future__ import annotations

import functools

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from accounts import ratelimit

# Set on the request by the form when it refused an attempt: the seconds until the limit's window ends.
_RETRY_AFTER = "_sesconsole_login_retry_after"


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self):
        attempt = ratelimit.begin_login(self.request, self.data.get("username", ""))
        if attempt.refused:  # refused before any password is tried
            setattr(self.request, _RETRY_AFTER, attempt.retry_after)
            raise ValidationError(ratelimit.login_refused_message(attempt.retry_after), code="rate_limited")
        cleaned = super().clean()  # a failure raises: the attempt keeps its hits
        attempt.succeeded()
        return cleaned


def install(site) -> None:
    site.login_form = RateLimitedAdminAuthenticationForm
    login = site.login

    @functools.wraps(login)
    def rate_limited_login(request, extra_context=None):
        response = login(request, extra_context)
        retry_after = getattr(request, _RETRY_AFTER, None)
        if retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response

    site.login = rate_limited_login
