from django.core.management.base import BaseCommand, CommandError

from accounts.services import AccountError, create_account


class Command(BaseCommand):
    help = "Make an account and its owner user; prints the new account's id as the last word."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The account's name, e.g. “Alice Co”")
        parser.add_argument("--owner", required=True, metavar="EMAIL", help="The owner's email (their username)")

    def handle(self, *args, name: str, owner: str, **options):
        try:
            account, user, password = create_account(name, owner)
        except AccountError as exc:
            raise CommandError(str(exc)) from None
        # Scripts read the id as the last word of the output (SPEC §7): keep it last.
        self.stdout.write(
            f"Created account “{account.name}” with owner {user.get_username()} "
            f"(password: {password}; shown only now). Account id: {account.pk}"
        )
