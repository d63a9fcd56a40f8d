from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "notify"
    verbose_name = "Callbacks and notifications"

    def ready(self) -> None:
        from notify import receivers  # noqa: F401  (connects the signal receivers)
