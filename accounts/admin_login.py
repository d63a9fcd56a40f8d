"""The admin's sign-in form under the same rate limits as the console's (accounts.ratelimit).

Installed by AccountsConfig.ready as admin.site.login_form: without it, /admin/login/ would be a
way around the limits of /login/ (and staff accounts are the ones worth guessing).
"""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from accounts import ratelimit


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self):
        username = self.data.get("username", "")
        retry_after = ratelimit.login_blocked(self.request, username)
        if retry_after is not None:  # refused before any password is tried
            raise ValidationError(ratelimit.login_refused_message(retry_after), code="rate_limited")
        try:
            return super().clean()
        except ValidationError:
            ratelimit.login_failed(self.request, username)
            raise
