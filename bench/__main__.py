"""Runs the benchmark modules of this package and prints one table per module.

    python -m bench                 # every module
    python -m bench cold_start      # only the named modules
    python -m bench --list          # what exists
    python -m bench --quick         # fewer repetitions: the whole set in <= 10 minutes (make bench)

A benchmark module is any ``bench/<name>.py`` (not starting with ``_``) with a function
``run() -> list[dict]``: one dict per result row, same keys in every row. The module
docstring's first line is the table's title. Nothing is asserted: numbers are printed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent

# --quick (what `make bench` runs): fewer repetitions and smaller sizes where a module's
# defaults take minutes, so the whole set fits in 10 minutes on a 2-core box (issue 18). Every
# module still runs and prints its baseline beside our figure; a variable already set wins.
QUICK = {
    "BENCH_COLD_START_RUNS": "3",
    "BENCH_PEERS_ROUNDS": "2",
    "BENCH_PEERS_CALLS": "12",
    "BENCH_PEERS_RUN_ROUNDS": "1",
    "BENCH_PEERS_RUN_ROWS": "500",  # the goal's 1,000 rows with BENCH_FULL=1 (promptfoo alone takes minutes)
    "BENCH_RUNS_LATENCY_MS": "50",
    "BENCH_INFERENCE_CALLS": "32",
    "BENCH_DATASETS_ROWS": "200000",
    "BENCH_DATASETS_RUNS": "3",
    "BENCH_EVALUATION_CORE_RUNS": "3",
    "BENCH_LOCAL_CLOUD_ROUNDS": "3",
    "BENCH_LOCAL_CLOUD_CALLS": "15",
    "BENCH_PROVIDERS_CALLS": "100",
    "BENCH_AUTH_N": "150",
    "BENCH_TRACES_N": "100",
    "BENCH_EXPORT_ROWS": "2000",
    "BENCH_RUNS_MEMORY_ROWS": "1000",  # the goal's 10,000 rows x 8 models with BENCH_FULL=1 (~16 min)
}


def discover() -> list[str]:
    """Names of the benchmark modules in bench/, in alphabetical order."""
    return sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE_DIR)]) if not m.name.startswith("_"))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table: columns in first-seen key order, numbers right-aligned."""
    if not rows:
        return "  (no rows)"
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [all(isinstance(row.get(c), int | float) for row in rows if row.get(c) is not None) for c in columns]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  " + "  ".join(parts).rstrip()

    rule = "  " + "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(r) for r in cells)])


def run_module(name: str) -> tuple[str, list[dict[str, Any]], float]:
    module = importlib.import_module(f"bench.{name}")
    runner = getattr(module, "run", None)
    if not callable(runner):
        raise SystemExit(f"bench/{name}.py has no run() function (see bench/README.md)")
    title = (module.__doc__ or name).strip().splitlines()[0]
    started = time.perf_counter()
    rows = list(runner())
    return title, rows, time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run Dr.Gero's benchmarks.")
    parser.add_argument("modules", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmark modules and exit")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (QUICK): all modules in <= 10 min")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            os.environ.setdefault(name, value)

    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    unknown = sorted(set(args.modules) - set(available))
    if unknown:
        parser.error(f"unknown benchmark module(s) {unknown}; available: {available}")
    names = args.modules or available
    if len(names) == 1:
        _run_and_print(names[0])
        return 0
    # Several modules: each in a fresh interpreter, as when run alone (a module's moto mock,
    # environment or process-wide AWS session must not leak into the next one); a module that
    # fails is reported and the others still run.
    # Each module's whole output (the product's own JSON logs and metrics among it) goes to
    # .bench-logs/{module}.log; its table is printed here, and the log's tail when it fails.
    logs = PACKAGE_DIR.parent / ".bench-logs"
    logs.mkdir(exist_ok=True)
    took: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name in names:
        began = time.perf_counter()
        log = logs / f"{name}.log"
        with log.open("w") as out:
            done = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "bench", name], cwd=PACKAGE_DIR.parent, check=False, stdout=out, stderr=out
            )
        print(_table_of(log.read_text(errors="replace"), name, failed=done.returncode != 0), flush=True)
        took.append({"module": name, "seconds": time.perf_counter() - began, "exit": done.returncode})
    took.append({"module": "all", "seconds": time.perf_counter() - started, "exit": max(t["exit"] for t in took)})
    print("\n== time per module" + (" (--quick)" if args.quick else ""))
    print(format_table(took), flush=True)
    return 1 if any(t["exit"] for t in took) else 0


def _table_of(output: str, name: str, failed: bool) -> str:
    """The module's printed table: its output from its ``== name`` line on, without the log
    lines the product wrote meanwhile (JSON objects); a failed module's last lines instead."""
    lines = output.splitlines()
    if failed:
        return "\n".join([f"\n== {name}: FAILED (whole output in .bench-logs/{name}.log)", *lines[-40:]])
    marker = max((i for i, line in enumerate(lines) if line == f"== {name}"), default=0)
    return "\n" + "\n".join(line for line in lines[marker:] if not line.startswith("{"))


def _run_and_print(name: str) -> None:
    print(f"\n== {name}", flush=True)
    title, rows, seconds = run_module(name)
    print(f"   {title}  ({seconds:.1f} s)")
    print(format_table(rows), flush=True)


if __name__ == "__main__":
    sys.exit(main())
