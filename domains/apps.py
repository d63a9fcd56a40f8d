from django.apps import AppConfig
from django.db.models.signals import pre_delete


def _domain_deleted(sender, instance, **kwargs) -> None:
    # Its DailyVolume rows go with it (cascade): take them out of the account's rollups first.
    from domains.reputation import rollups

    rollups.subtract_domain(instance.pk)


class DomainsConfig(AppConfig):
    name = "domains"

    def ready(self) -> None:
        pre_delete.connect(_domain_deleted, sender="domains.SenderDomain", dispatch_uid="stats-domain-deleted")
