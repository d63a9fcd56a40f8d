from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.contrib import admin
        from django.core import checks

        from accounts import admin_login, ratelimit

        # /admin/login/ under the same sign-in limits as /login/.
        admin_login.install(admin.site)
        checks.register(ratelimit.check_client_ip_header)
