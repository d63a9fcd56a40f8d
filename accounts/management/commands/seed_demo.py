from django.core.management.base import BaseCommand

from accounts import demo


class Command(BaseCommand):
    help = (
        "Create a demo account (Demo Co), a staff user, sender domains and today's traffic through the "
        "real reputation engine. Idempotent: a second run the same day changes nothing."
    )

    def handle(self, *args, **options):
        created = demo.seed_demo()
        for line in created:
            self.stdout.write(line)
        if not created:
            self.stdout.write("The demo data is in place; nothing changed.")
        self.stdout.write(f"Console sign-in: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}")
        self.stdout.write(f"Staff (admin) sign-in: {demo.ADMIN_EMAIL} / {demo.ADMIN_PASSWORD}")
