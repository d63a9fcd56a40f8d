from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from accounts import admin_login

        # /admin/login/ under the same sign-in limits as /login/.
        admin_login.install(admin.site)
