from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_cache_table(sender, using="default", **kwargs):
    """The database cache (settings.CACHES in the embedded default) needs its table: every `migrate`
    makes sure it exists, so no install step can forget it. Nothing happens for a Redis cache."""
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from accounts.admin_login import RateLimitedAdminAuthenticationForm

        post_migrate.connect(_create_cache_table, sender=self, dispatch_uid="accounts.create_cache_table")
        # /admin/login/ under the same sign-in limits as /login/.
        admin.site.login_form = RateLimitedAdminAuthenticationForm
