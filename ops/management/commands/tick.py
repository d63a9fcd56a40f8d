from django.core.management.base import BaseCommand, CommandError

from ops.periodic import run_due_jobs


class Command(BaseCommand):
    help = (
        "Run once every periodic job that is due (for cron-based installs and tests); "
        "--all runs every job that is not running elsewhere, due or not."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Run every job now, due or not")

    def handle(self, *args, all: bool = False, **options):
        results = run_due_jobs(force=all)
        if not results:
            self.stdout.write("Nothing was due.")
        for result in results:
            self.stdout.write(str(result))
        failed = [r.name for r in results if not r.ok]
        if failed:
            # A non-zero exit makes cron mail the operator.
            raise CommandError(f"{len(failed)} periodic job(s) failed: {', '.join(failed)}")
