"""Offline build of every spec in ../shared/specs/openapi, with per-stage times. Prints a table; asserts nothing.

    .venv/bin/python benchmarks/factory.py [--jobs 2] [SPEC ...]

Builds into a scratch build directory and a scratch registry, so the project's registry is untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from servers.factory.build import STAGES, Builder, BuildOptions  # noqa: E402

SPECS = ROOT.parent / "shared" / "specs" / "openapi"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("specs", nargs="*", help="default: every *.yaml in ../shared/specs/openapi")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    specs = args.specs or sorted(str(p) for p in SPECS.glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        options = BuildOptions(out=Path(tmp) / "build", registry=Path(tmp) / "registry", jobs=args.jobs)
        options.registry.mkdir(parents=True)  # type: ignore[union-attr]
        started = time.perf_counter()
        results = asyncio.run(Builder(options).build_all(specs))
        wall = time.perf_counter() - started
    table = Table(title=f"offline build of {len(specs)} specs: {wall:.1f} s wall, --jobs {args.jobs}, "
                        f"{os.cpu_count()} CPUs")
    for col in ("environment", "tools", "checks", "verdict", *(f"{s} s" for s in STAGES), "total s"):
        table.add_column(col, justify="left" if col in ("environment", "verdict") else "right")
    totals = dict.fromkeys(STAGES, 0.0)
    for r in results:
        for s in STAGES:
            totals[s] += r.stage_seconds.get(s, 0.0)
        table.add_row(r.name or Path(r.source).name, str(r.tools), str(r.checks), r.verdict,
                      *(f"{r.stage_seconds.get(s, 0.0):.2f}" for s in STAGES), f"{r.seconds:.2f}")
    table.add_row("sum", "", "", f"{sum(r.verdict == 'admitted' for r in results)} admitted",
                  *(f"{totals[s]:.2f}" for s in STAGES), f"{sum(r.seconds for r in results):.2f}")
    Console(width=160).print(table)
    for r in results:
        if r.verdict != "admitted":
            print(f"{r.name or r.source}: {r.verdict}: {r.reason}")


if __name__ == "__main__":
    main()
