"""`python -m sesconsole.queues ROLE`, the command of earlier versions' worker lines (supervisor
files, systemd units), still prints a role's queues. The queues themselves are core/queues.py."""

import sys

from core.queues import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
