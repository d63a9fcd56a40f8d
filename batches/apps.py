from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "batches"

    def ready(self) -> None:
        from batches import (
            receivers,  # noqa: F401  (connects the signal receivers)
            tasks_lists,  # noqa: F401  (autodiscovery finds tasks.py only: registers batches.import_list)
        )
