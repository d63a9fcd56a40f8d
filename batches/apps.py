from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"

    def ready(self) -> None:
        from batches import receivers  # noqa: F401  (connects the signal receivers)
        from batches.lists import tasks  # noqa: F401  (autodiscovery finds <app>.tasks only: registers batches.import_list)
