import sys

from django.core.management.base import BaseCommand, CommandError

from sending.inbound.reports import InboundError
from sending.inbound.services import apply_report


class Command(BaseCommand):
    help = "Read one raw bounce (DSN, RFC 3464) or complaint (ARF, RFC 5965) message on stdin and record its outcome."
    # Tests pass a binary stream; an MTA's pipe transport gives us the real stdin.
    stealth_options = ("stdin",)

    def handle(self, *args, **options):
        stream = options.get("stdin") or sys.stdin.buffer
        raw = stream.read()
        try:
            results = apply_report(raw)
        except InboundError as exc:
            # A non-zero exit makes the MTA's pipe transport keep (or return) the report instead of losing it.
            raise CommandError(f"Not a report we can read: {exc}") from exc
        for result in results:
            self.stdout.write(str(result))
        recorded = sum(r.recorded for r in results)
        self.stdout.write(f"{recorded} of {len(results)} finding(s) recorded.")
