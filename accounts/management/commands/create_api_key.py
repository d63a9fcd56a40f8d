import json

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account, ApiKey


class Command(BaseCommand):
    help = "Issue a new API key (SecretId / SecretKey) for an account; the SecretKey is shown only now."

    def add_arguments(self, parser):
        parser.add_argument("account_id", help="The account's id (create_account prints it)")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help='Print only {"SecretId": …, "SecretKey": …}'
        )

    def handle(self, *args, account_id: str, as_json: bool = False, **options):
        try:
            account = Account.objects.get(pk=int(account_id))
        except (ValueError, Account.DoesNotExist):
            raise CommandError(f"No account with id {account_id!r}.") from None
        key, secret_key = ApiKey.issue(account)
        if as_json:
            self.stdout.write(json.dumps({"SecretId": key.secret_id, "SecretKey": secret_key}))
            return
        self.stdout.write(f"API key for account “{account.name}” (id {account.pk}):")
        self.stdout.write(f"SecretId:  {key.secret_id}")
        self.stdout.write(f"SecretKey: {secret_key}")
        self.stdout.write("Keep the SecretKey now: it is never shown again.")
