"""The floors of docs/architecture.md hold: import-linter checks the contracts of pyproject.toml
([tool.importlinter]) on the code as it is, and the same check refuses an import that points up."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(command), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)}, capture_output=True, text=True,
        timeout=120,
    )


def copy_of_the_house(tmp_path: Path) -> Path:
    tree = tmp_path / "house"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def test_every_contract_is_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [contract["name"] for contract in CONFIG["contracts"]]
    assert all(f"{name} KEPT" in " ".join(result.stdout.split()) for name in names), result.stdout


# Each: a file, the import added to it (the arrow a contract forbids), what lint-imports must say.
BREAKS = [
    pytest.param(
        # The engine asking the statistics pages for something: an arrow from the engine up to the views.
        "domains/reputation/services.py", "def _upward():\n    from stats import queries  # noqa\n",
        ["domains is not allowed to import stats", "domains.reputation.services -> stats.queries"],
        id="floors-engine-up-to-stats",
    ),
    pytest.param(
        "domains/reputation/rules.py", "from django.conf import settings  # noqa\n",
        ["domains.reputation.rules is not allowed to import django"], id="pure-rules",
    ),
    pytest.param(
        "batches/lists/services.py", "def _upward():\n    from batches.lists import tasks  # noqa\n",
        ["batches.lists.services is not allowed to import batches.lists.tasks"], id="lists-services-up-to-tasks",
    ),
    pytest.param(
        "sending/inbound/reports.py", "from sending.models import Message  # noqa\n",
        ["sending.inbound.reports is not allowed to import sending.models"], id="pure-reports",
    ),
    pytest.param(
        "sending/relay.py", "def _orm():\n    from sending.models import Message  # noqa\n",
        ["sending.relay is not allowed to import sending.models"], id="relay-no-orm",
    ),
    pytest.param(
        # A service reaching for the task object instead of core.enqueue's name: the old arrow, back.
        "batches/services.py", "def _old_way():\n    from batches.tasks import dispatch  # noqa\n",
        ["Illegal imports of protected package batches.tasks", "batches.services -> batches.tasks"],
        id="tasks-on-top",
    ),
]


@pytest.mark.parametrize(("path", "added", "said"), BREAKS)
def test_an_import_against_a_contract_breaks_it(tmp_path, path, added, said):
    tree = copy_of_the_house(tmp_path)
    module = tree / path
    module.write_text(module.read_text() + "\n\n" + added)
    result = lint_imports(tree)
    assert result.returncode != 0
    for words in said:
        assert words in result.stdout
