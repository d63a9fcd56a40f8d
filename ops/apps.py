from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: the record of periodic work (ops/periodic.py) and the `tick` command."""

    name = "ops"
    verbose_name = "Operations"
