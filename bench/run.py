"""Run every benchmark scenario and write bench/RESULTS.md.

    .venv/bin/python bench/run.py [--only admission,quota,...] [--quick] [--rounds N] [--timeout 3600] [--output bench/RESULTS.md]

Each scenario is a script of its own, bench/<name>.py (see bench/common.py). This runs each one
as a subprocess, one after the other, with:
  - its own scratch PostgreSQL database, sesconsole_bench_<name> on 127.0.0.1:5432 (created when
    missing: ensure_database), or under the server of --postgres;
  - its own Redis db for the broker and the cache (8 and 9 in turn, emptied with FLUSHDB before
    the scenario starts; never another db);
  - `--json-out FILE`, where the script writes its result rows, and `--quick` (small sizes, a
    smoke run) and `--rounds N` when asked and the script knows the option.
Then it writes RESULTS.md: the machine, the versions, the date, one table of every row and each
row's notes. A scenario whose script is missing, exits non-zero, times out or writes no rows is
listed as FAILED with its error. Each scenario's output goes to var/bench/<name>.log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, ensure_database  # noqa: E402

BENCH = ROOT / "bench"
# In the order of issue 6's table. Each name is bench/<name>.py.
SCENARIOS = ["admission", "delivery", "list_import", "quota", "close_day", "statistics"]
REDIS_DBS = (8, 9)
# The sizes issue 6 names, where a script's defaults are smaller (not with --quick): the batch
# dispatch scenario runs a 1,000,000-recipient batch and reports its steady rate over a window.
FULL_SIZE = {"delivery": ["--recipients", "1000000", "--batch-seconds", "150"]}


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory,
            "os": f"{platform.system()} {platform.release()}"}


def versions(postgres: str, redis_url: str) -> dict[str, str]:
    def package(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    found = {"Python": platform.python_version(), "Django": package("Django"),
             "Celery": package("celery"), "gunicorn": package("gunicorn"), "psycopg": package("psycopg")}
    try:
        import psycopg

        with psycopg.connect(f"{postgres}/postgres", connect_timeout=5) as conn:
            found["PostgreSQL server"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        found["PostgreSQL server"] = f"unreachable ({exc})"
    try:
        import redis

        found["Redis server"] = redis.Redis.from_url(redis_url, socket_timeout=5).info("server")["redis_version"]
    except Exception as exc:  # noqa: BLE001
        found["Redis server"] = f"unreachable ({exc})"
    return found


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url, socket_timeout=5).flushdb()  # this scenario's own db only


def run_scenario(name: str, index: int, args, logs: Path) -> tuple[list[dict], str | None, float, str]:
    """Returns (rows, error or None, seconds, how it was run)."""
    script = BENCH / f"{name}.py"
    if not script.is_file():
        return [], f"bench/{name}.py not found", 0.0, ""
    database = f"{args.postgres}/sesconsole_bench_{name}"
    broker = f"{args.redis}/{REDIS_DBS[index % len(REDIS_DBS)]}"
    out = logs / f"{name}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(script), "--json-out", str(out)]
    how = ""
    if args.rounds and '"--rounds"' in script.read_text():
        command += ["--rounds", str(args.rounds)]
        how = f"--rounds {args.rounds}"
    if not args.quick and name in FULL_SIZE:
        command += FULL_SIZE[name]
        how = ", ".join(filter(None, [how, " ".join(FULL_SIZE[name])]))
    if args.quick:
        if '"--quick"' in script.read_text():
            command.append("--quick")
            how = ", ".join(filter(None, [how, "--quick"]))
        else:
            how = ", ".join(filter(None, [how, "full size (the script has no --quick)"]))
    try:
        ensure_database(database)
        flush_redis(broker)
    except Exception as exc:  # noqa: BLE001
        return [], f"could not prepare its database or Redis db: {exc}", 0.0, how
    env = dict(os.environ, DATABASE_URL=database, CELERY_BROKER_URL=broker, PYTHONPATH=str(ROOT),
               DJANGO_SETTINGS_MODULE="sesconsole.settings", DEBUG="0")
    env.pop("CACHE_URL", None)  # the cache follows the broker: this scenario's Redis db
    log = logs / f"{name}.log"
    print(f"==> {name}: {' '.join(command[1:])} (DATABASE_URL={database}, broker {broker})", flush=True)
    started = time.monotonic()
    with log.open("w") as sink:
        try:
            proc = subprocess.run(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                  timeout=args.timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
    seconds = time.monotonic() - started
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-6:]
    if code is None:
        return [], f"timed out after {args.timeout} s; last output: {' | '.join(tail[-3:])}", seconds, how
    if code != 0:
        return [], f"exit status {code}: {' | '.join(tail)}", seconds, how
    try:
        rows = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        return [], f"wrote no result rows ({exc}); last output: {' | '.join(tail[-3:])}", seconds, how
    if not rows:
        return [], "wrote an empty list of rows", seconds, how
    return rows, None, seconds, how


def cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def write_results(path: Path, info: dict, results: list[tuple[str, list[dict], str | None, float, str]],
                  skipped: list[str], command: str) -> None:
    m, v = info["machine"], info["versions"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `bench/run.py` from a real run started {info['date']} (UTC): `{command}`.",
        "Every figure is beside a baseline measured in the same run, alternating with it; see each script's",
        "docstring for exactly what it runs.",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['memory']}; {m['os']}",
        "- " + "; ".join(f"{name} {version}" for name, version in v.items()),
        f"- Load average (1/5/15 min) at the start: {info['load_start']}; at the end: {info['load_end']}",
        "",
        "## Results",
        "",
        "| scenario | measured | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows, error, _seconds, _how in results:
        if error:
            lines.append(f"| {name} | FAILED | — | — | — | no |")
        for r in rows:
            met = "yes" if r.get("met") else "**no**"
            lines.append(f"| {cell(r.get('scenario', name))} | {cell(r.get('measured', ''))} | "
                         f"{cell(r.get('baseline', ''))} | {cell(r.get('ratio', ''))} | {cell(r.get('goal', ''))} | {met} |")
    lines += ["", "## Notes", ""]
    for name, rows, error, seconds, how in results:
        ran = f" ({seconds:.0f} s{', ' + how if how else ''})" if seconds else ""
        if error:
            lines.append(f"- **{name}** FAILED{ran}: {cell(error)}")
        for r in rows:
            lines.append(f"- **{cell(r.get('scenario', name))}**{ran}: {cell(r.get('notes', ''))}")
    for name in skipped:
        lines.append(f"- **{name}**: not run (not in --only).")
    lines += [
        "- The machine is shared: up to 8 engineers run tests and browsers on its 2 cores while this runs,",
        "  so absolute figures move from run to run (see the load average above). Each baseline runs in the",
        "  same process tree, against the same servers, alternating with what it is compared to, and the",
        "  figures are medians of the rounds: the ratios are fair even when the absolute numbers are low.",
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated scenario names: " + ", ".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per scenario")
    parser.add_argument("--rounds", type=int, help="rounds of each scenario that has the option (default: its own)")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without a database name")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server URL without a db number")
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    args = parser.parse_args()
    args.postgres, args.redis = args.postgres.rstrip("/"), args.redis.rstrip("/")

    selected = SCENARIOS
    if args.only:
        selected = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in selected if name not in SCENARIOS]
        if unknown:
            sys.exit(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    info = {"machine": machine(), "versions": versions(args.postgres, f"{args.redis}/{REDIS_DBS[0]}"),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"), "load_start": load_average()}
    results = []
    for index, name in enumerate(SCENARIOS):
        if name not in selected:
            continue
        rows, error, seconds, how = run_scenario(name, index, args, logs)
        results.append((name, rows, error, seconds, how))
        status = f"FAILED: {error}" if error else f"{len(rows)} row(s)"
        print(f"    {name}: {status} ({seconds:.0f} s)", flush=True)
        for r in rows:
            print(f"    {r.get('scenario')}: {r.get('measured')} vs {r.get('baseline')}, ratio {r.get('ratio')}, "
                  f"goal {r.get('goal')}: {'met' if r.get('met') else 'NOT met'}", flush=True)
    info["load_end"] = load_average()
    command = "bench/run.py" + "".join(f" {a}" for a in sys.argv[1:])
    skipped = [name for name in SCENARIOS if name not in selected]
    write_results(Path(args.output), info, results, skipped, command)
    print(f"wrote {args.output}")
    sys.exit(1 if any(error for _, _, error, _, _ in results) else 0)


if __name__ == "__main__":
    main()
