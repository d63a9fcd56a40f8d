"""The floors of docs/architecture.md hold: import-linter checks the contracts of pyproject.toml
([tool.importlinter]) on the code as it is, and the same check refuses an import that points up."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

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


def test_an_import_that_points_up_breaks_the_floors(tmp_path):
    tree = copy_of_the_house(tmp_path)
    # The engine asking the statistics pages for something: an arrow from the engine up to the views.
    services = tree / "domains" / "reputation" / "services.py"
    services.write_text(services.read_text() + "\n\ndef _upward():\n    from stats import queries  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "domains is not allowed to import stats" in result.stdout
    assert "domains.reputation.services -> stats.queries" in result.stdout


def test_the_rules_stay_pure(tmp_path):
    tree = copy_of_the_house(tmp_path)
    rules = tree / "domains" / "reputation" / "rules.py"
    rules.write_text(rules.read_text() + "\n\nfrom django.conf import settings  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "domains.reputation.rules is not allowed to import django" in result.stdout



def test_the_list_services_never_import_their_task(tmp_path):
    tree = copy_of_the_house(tmp_path)
    services = tree / "batches" / "lists" / "services.py"
    services.write_text(services.read_text() + "\n\ndef _upward():\n    from batches.lists import tasks  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "batches.lists.services is not allowed to import batches.lists.tasks" in result.stdout


def test_reading_a_report_stays_pure(tmp_path):
    tree = copy_of_the_house(tmp_path)
    reports = tree / "sending" / "inbound" / "reports.py"
    reports.write_text(reports.read_text() + "\n\nfrom sending.models import Message  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "sending.inbound.reports is not allowed to import sending.models" in result.stdout


def test_a_service_that_imports_a_tasks_module_breaks_the_tasks_contract(tmp_path):
    tree = copy_of_the_house(tmp_path)
    # A service reaching for the task object instead of core.enqueue's name: the old arrow, back.
    services = tree / "batches" / "services.py"
    services.write_text(services.read_text() + "\n\ndef _old_way():\n    from batches.tasks import dispatch  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "Illegal imports of protected package batches.tasks" in result.stdout
    assert "batches.services -> batches.tasks" in result.stdout
