from django.core.management.base import BaseCommand, CommandError

from domains.models import SenderDomain
from domains.services import DomainError, check_dns, force_verify, normalize_domain_name

ACTOR = "manage.py verify_domains"


class Command(BaseCommand):
    help = (
        "Re-check the DNS records of pending and failed sender domains (or only --domain). "
        "--force --domain D marks D verified without DNS (offline installs); it is logged."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", metavar="D", help="Only this sender domain (any status)")
        parser.add_argument("--force", action="store_true", help="Mark --domain verified without DNS (logged)")

    def handle(self, *args, domain: str | None = None, force: bool = False, **options):
        if force and not domain:
            # Forcing every pending domain at once would verify domains nobody looked at.
            raise CommandError("--force needs --domain D: force-verify one domain at a time.")
        if domain:
            domains = [self._domain(domain)]
        else:
            domains = SenderDomain.objects.filter(status__in=[SenderDomain.PENDING, SenderDomain.FAILED])
        if force:
            force_verify(domains[0], None, actor_label=ACTOR, reason="forced without DNS from the command line")
            self.stdout.write(f"{domains[0].name}: verified (forced without DNS; logged)")
            return
        checked = 0
        for item in domains:
            check_dns(item)
            checked += 1
            self.stdout.write(self._line(item))
        if not checked:
            self.stdout.write("No pending or failed sender domains to check.")

    def _domain(self, raw: str) -> SenderDomain:
        try:
            name = normalize_domain_name(raw)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        found = SenderDomain.objects.filter(name=name).first()
        if found is None:
            raise CommandError(f"No sender domain named {name}.")
        return found

    @staticmethod
    def _line(domain: SenderDomain) -> str:
        failing = [
            f"{kind} {result.get('error') or 'does not match'}"
            for kind, result in domain.dns_results.items()
            if not result.get("ok")
        ]
        if not failing:
            return f"{domain.name}: {domain.status} (all records found)"
        return f"{domain.name}: {domain.status} ({'; '.join(failing)})"
