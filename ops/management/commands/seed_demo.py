from django.core.management.base import BaseCommand, CommandError

from ops import demo


class Command(BaseCommand):
    help = (
        "Build the demo: three accounts and 30 days of their mail through the real reputation engine, "
        "the mailbox simulator and the periodic tick (ops/demo.py tells the story). "
        "Idempotent: when the demo is in place, nothing changes. It adds a superuser with a public password, "
        "so it refuses a database holding users or accounts that are not the demo's, unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true",
            help="Seed even a database that holds users or accounts of its own (a throwaway copy, never production).",
        )

    def handle(self, *args, **options):
        try:
            done = demo.seed_demo(force=options["force"])
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        for line in done:
            self.stdout.write(line)
        if not done:
            self.stdout.write("The demo data is in place; nothing changed.")
        self.stdout.write(f"Console sign-in: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}")
        self.stdout.write(
            f"Also: {demo.SHOP_EMAIL} ({demo.SHOP_ACCOUNT}) and {demo.GLOBEX_EMAIL} ({demo.GLOBEX_ACCOUNT}), "
            f"same password"
        )
        self.stdout.write(f"Staff (admin) sign-in: {demo.ADMIN_EMAIL} / {demo.ADMIN_PASSWORD}")
