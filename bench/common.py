"""What every benchmark shares: a scratch database, medians and percentiles, the result rows.

Each scenario is a script of its own (`bench/<name>.py`) that can run alone and prints what it
measured. Given `--json-out FILE` it also writes its result rows there, for `bench/run.py`, which
runs every scenario and writes `bench/RESULTS.md`. A row is a dict with:

    scenario   short name ("delivery, 2 workers")
    measured   the figure with its unit ("212 msg/s")
    baseline   the baseline's figure with its unit, measured in the same run ("449 msg/s")
    ratio      measured / baseline as a float (or baseline / measured when lower is better; say so in goal)
    goal       the goal as the issue states it ("≥ 0.5 of the baseline")
    met        True / False
    notes      one line: what was run (counts, concurrency), anything a reader must know
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sesconsole.settings")


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named at the end of `url` if it does not exist."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def require_postgres() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database of the benchmark's own.")
    ensure_database(url)
    return url


def median(values: list[float]) -> float:
    ordered, middle = sorted(values), len(values) // 2
    return ordered[middle] if len(values) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def row(scenario: str, measured: str, baseline: str, ratio: float, goal: str, met: bool, notes: str = "") -> dict:
    return {"scenario": scenario, "measured": measured, "baseline": baseline, "ratio": round(ratio, 3),
            "goal": goal, "met": bool(met), "notes": notes}


def write_rows(path: str | None, rows: list[dict]) -> None:
    if path:
        Path(path).write_text(json.dumps(rows, indent=2))
