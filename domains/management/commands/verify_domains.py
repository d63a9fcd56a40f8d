from django.core.management.base import BaseCommand, CommandError

from domains.models import SenderDomain
from domains.services import ClaimRemoved, DomainError, check_dns, force_verify, normalize_domain_name

ACTOR = "manage.py verify_domains"


class Command(BaseCommand):
    help = (
        "Re-check the DNS records of pending and failed sender domains (or only --domain). "
        "--force --domain D marks D verified without DNS (offline installs); it is logged. When several "
        "accounts claim D, --account ID says whose claim (the other claims are removed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", metavar="D", help="Only this sender domain (any status)")
        parser.add_argument("--account", metavar="ID", type=int, help="With --domain: only this account's claim on it")
        parser.add_argument("--force", action="store_true", help="Mark --domain verified without DNS (logged)")

    def handle(self, *args, domain: str | None = None, account: int | None = None, force: bool = False, **options):
        if force and not domain:
            # Forcing every pending domain at once would verify domains nobody looked at.
            raise CommandError("--force needs --domain D: force-verify one domain at a time.")
        if account is not None and not domain:
            raise CommandError("--account needs --domain D.")
        if domain:
            domains = self._claims(domain, account)
        else:
            domains = SenderDomain.objects.filter(status__in=[SenderDomain.PENDING, SenderDomain.FAILED])
        if force:
            if len(domains) > 1:
                # Forcing one claim removes the others: staff must say whose it is.
                accounts = ", ".join(str(claim.account_id) for claim in domains)
                raise CommandError(f"{domains[0].name} is claimed by accounts {accounts}: say whose with --account ID.")
            try:
                force_verify(domains[0], None, actor_label=ACTOR, reason="forced without DNS from the command line")
            except DomainError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(f"{domains[0].name}: verified (forced without DNS; logged)")
            return
        checked = 0
        for item in domains:
            checked += 1
            try:
                check_dns(item)
            except ClaimRemoved as exc:
                self.stdout.write(f"{item.name}: claim of account {item.account_id} removed ({exc.reason or 'deleted'})")
                continue
            self.stdout.write(self._line(item))
        if not checked:
            self.stdout.write("No pending or failed sender domains to check.")

    def _claims(self, raw: str, account: int | None) -> list[SenderDomain]:
        try:
            name = normalize_domain_name(raw)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        claims = SenderDomain.objects.filter(name=name).order_by("pk")
        if account is not None:
            claims = claims.filter(account_id=account)
        found = list(claims)
        if not found:
            whose = f" claimed by account {account}" if account is not None else ""
            raise CommandError(f"No sender domain named {name}{whose}.")
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
