from django.core.management.base import BaseCommand, CommandError

from accounts import demo


class Command(BaseCommand):
    help = (
        "Build the demo: three accounts and 30 days of their mail through the real reputation engine, "
        "the mailbox simulator and the periodic tick (accounts/demo.py tells the story). "
        "Idempotent: when the demo is in place, nothing changes."
    )

    def handle(self, *args, **options):
        try:
            done = demo.seed_demo()
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
