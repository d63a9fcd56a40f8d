"""The SMTP client (sending.relay) has no ORM: it loads neither django.db nor any models module, and the
import-linter contract of pyproject.toml ("relay-no-orm") refuses an import of one."""

from __future__ import annotations

import subprocess
import sys

from tests.test_layers import ROOT, copy_of_the_house, lint_imports


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


def test_the_contract_refuses_a_models_import_in_the_relay(tmp_path):
    tree = copy_of_the_house(tmp_path)
    relay = tree / "sending" / "relay.py"
    relay.write_text(relay.read_text() + "\n\ndef _orm():\n    from sending.models import Message  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "sending.relay is not allowed to import sending.models" in result.stdout
