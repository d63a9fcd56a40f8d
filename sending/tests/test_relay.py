"""The SMTP client (sending.relay) has no ORM: it loads neither django.db nor any models module, and the
import-linter contract of pyproject.toml ("relay-no-orm", proved breakable in tests/test_layers.py)
refuses an import of one."""

from __future__ import annotations

import subprocess
import sys

from tests.test_layers import ROOT


def test_importing_the_relay_loads_no_database_code():
    script = (
        "import sys, sending.relay\n"
        "print(sorted(m for m in sys.modules if m.startswith('django.db') or m.endswith('.models')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

