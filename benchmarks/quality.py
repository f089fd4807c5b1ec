"""Data-quality report of offline synthesis, side by side: (a) the catalog (calendar, shop, travel) and (b) the 15
environments built offline from ../shared/specs/openapi. Prints one table (and examples); asserts nothing.

    .venv/bin/python benchmarks/quality.py [--quick] [--n-catalog 500] [--n-generated 300] [--seed 0]
        [--specs DIR] [--envs DIR] [--keep DIR] [--runs CATALOG_RUN GENERATED_RUN]

As a user would run it (README, issue 10's "Done when"):
  1. `envfactory build <specs>/*.yaml --offline` into a temporary registry pinned with ENVFACTORY_ENVS (skipped with
     `--envs DIR`, an already built registry);
  2. two farms on loopback (`envfactory farm`, a bearer token): one over the built-ins only (an empty workspace
     `--registry`), one over the built registry only (ENVFACTORY_ENVS);
  3. `envfactory synthesize --farm URL --n N` against each, every role offline;
  4. `synthesizer.data.stats.compute_stats` on both run directories: the quality report (synthesizer/data/quality.py
     defines every class), verification, coverage, kinds and modes, printed with the issue's goals beside them.
`--runs A B` skips 1-3 and compares two existing run directories. Every child runs in its own process group and is
ended (group included) on exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from procs import free_port  # noqa: E402

from synthesizer.data.quality import QualityReport, defect_cells, opening_rows  # noqa: E402
from synthesizer.data.stats import RunStats, compute_stats  # noqa: E402

TOKEN = "bench-quality-token"
SPECS = ROOT.parent / "shared" / "specs" / "openapi"
ENVFACTORY = [sys.executable, "-m", "envfactory"]
EXAMPLES = 3
GOALS = {  # issue 10, "Done when" (shown, never asserted)
    "pasted_description": "0", "tool_name_words": "0", "raw_param_label": "0", "filler_values": "0",
    "ambiguous_reference": "0", "post_write_reference": "0", "unexplained_values": "<= 1% of values",
    "lookup_unreported": "0", "incoherent_addresses": "0 (100% coherent)",
    "distinct 4-word openings": ">= 150 per 300", "answers in top-5 openings": "<= 20%",
    "duplicate first messages": "<= 1%",
}
_children: list[tuple[subprocess.Popen[bytes], Any]] = []


# --- processes ---------------------------------------------------------------------------------------------------

def child_env(**overrides: str) -> dict[str, str]:
    """This environment without the catalog and token variables (each child chooses its own), plus `overrides`."""
    drop = ("ENVFACTORY_ENVS", "ENVFACTORY_HOME", "ENVFACTORY_TOKEN")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ENVFACTORY_LLM_")}
    return {**env, **overrides}


def launch(argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    fh = log.open("wb")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    _children.append((proc, fh))
    return proc


def tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child, then SIGKILL whatever is left of its own process group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the child's own (start_new_session)
    for entry in [e for e in _children if e[0] is proc]:
        entry[1].close()
        _children.remove(entry)


def stop_all() -> None:
    for proc, _ in list(_children):
        stop(proc)


def on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
    proc = launch(argv, env, log, cwd)
    rc = proc.wait()
    stop(proc)
    if rc != 0:
        raise SystemExit(f"{' '.join(argv[2:4])} failed (exit {rc}):\n{tail(log)}")


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"farm exited:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {port}:\n{tail(log)}")


# --- the runs ----------------------------------------------------------------------------------------------------

def build(specs: Path, tmp: Path) -> Path:
    """The specs built offline into a fresh registry (ENVFACTORY_ENVS pins the catalog to it, as the README does)."""
    envs, files = tmp / "envs", sorted(str(p) for p in specs.glob("*.yaml"))
    if not files:
        raise SystemExit(f"no *.yaml specs in {specs}")
    run([*ENVFACTORY, "build", *files, "--offline", "--out", str(tmp / "build")], child_env(ENVFACTORY_ENVS=str(envs)),
        tmp / "build.log", cwd=tmp)
    return envs


def synthesize(name: str, farm_args: list[str], env: dict[str, str], n: int, seed: int, tmp: Path) -> Path:
    """One farm, one `envfactory synthesize --farm` run against it; the run directory."""
    port = free_port()
    log = tmp / f"farm-{name}.log"
    farm = launch([*ENVFACTORY, "farm", "--port", str(port), "--token", TOKEN, *farm_args], env, log)
    try:
        wait_port(port, farm, log)
        out = tmp / f"run-{name}"
        started = time.perf_counter()
        run([*ENVFACTORY, "synthesize", "--farm", f"http://127.0.0.1:{port}", "--farm-token", TOKEN, "--n", str(n),
             "--seed", str(seed), "--out", str(out), "--no-progress"], child_env(), tmp / f"synth-{name}.log")
        print(f"{name}: {n} trajectories in {time.perf_counter() - started:.0f} s ({out})", file=sys.stderr)
        return out
    finally:
        stop(farm)


# --- the report --------------------------------------------------------------------------------------------------

def present(counts: dict[str, int]) -> str:
    missing = [k for k, v in counts.items() if not v]
    return "all present" if not missing else "missing: " + ", ".join(missing)


def general_rows(s: RunStats) -> dict[str, str]:
    return {"trajectories": str(s.trajectories), "verified": f"{s.verified_pct:.1f}%",
            "tool coverage": f"{100.0 * s.coverage.fraction:.1f}% ({s.coverage.used}/{s.coverage.total})",
            "kinds": present(s.by_kind), "modes": present(s.by_mode),
            "shapes": present({k: v for k, v in s.by_topology.items() if k != "none"})}


def quality_rows(q: QualityReport) -> dict[str, str]:
    out = {}
    for d in q.defects.values():
        records, rate = defect_cells(d)
        out[d.name] = f"{records} ({rate})" if rate else records
    out.update(dict(opening_rows(q)))
    return out


def examples(name: str, q: QualityReport) -> list[str]:
    lines = []
    for d in q.defects.values():
        for rid in d.ids[:EXAMPLES]:
            lines.append(f"  {name} {d.name} {rid}: {'; '.join(d.examples.get(rid, []))[:300]}")
    return lines


def report(catalog: RunStats, generated: RunStats) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="data quality, offline synthesis (definitions: synthesizer/data/quality.py)")
    for col in ("measure", "catalog", "generated", "goal"):
        table.add_column(col)
    left = {**general_rows(catalog), **quality_rows(catalog.quality)}
    right = {**general_rows(generated), **quality_rows(generated.quality)}
    goals = {**GOALS, "verified": "100%", "tool coverage": ">= 95% (catalog)", "kinds": "all", "modes": "all",
             "shapes": "all"}
    for key in left:
        table.add_row(key, left[key], right.get(key, ""), goals.get(key, ""))
    console = Console(width=170)
    console.print(table)
    console.print(f"runs: catalog {catalog.run_dir}, generated {generated.run_dir}; first {EXAMPLES} offending "
                  "records per class:", markup=False, highlight=False)
    for line in examples("catalog", catalog.quality) + examples("generated", generated.quality):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs (60 catalog, 40 generated)")
    parser.add_argument("--n-catalog", type=int, default=500, help="trajectories over the catalog")
    parser.add_argument("--n-generated", type=int, default=300, help="trajectories over the generated environments")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--specs", type=Path, default=SPECS, help="OpenAPI specs to build offline")
    parser.add_argument("--envs", type=Path, help="an already built registry (skips the build)")
    parser.add_argument("--keep", type=Path, help="keep builds, logs and run directories here (default: a temporary "
                                                  "directory, removed at the end)")
    parser.add_argument("--runs", type=Path, nargs=2, metavar=("CATALOG_RUN", "GENERATED_RUN"),
                        help="compare two existing run directories instead of synthesizing")
    args = parser.parse_args()
    if args.runs:
        report(compute_stats(args.runs[0]), compute_stats(args.runs[1]))
        return
    if args.quick:
        args.n_catalog, args.n_generated = 60, 40
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(stop_all)
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = args.keep.resolve()
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-quality-")))
        try:
            envs = args.envs.resolve() if args.envs else build(args.specs, tmp)
            built = sorted(p.name for p in envs.iterdir() if (p / "env.json").is_file())
            print(f"generated environments ({len(built)}): {', '.join(built)}", file=sys.stderr)
            (tmp / "empty").mkdir(exist_ok=True)
            catalog = synthesize("catalog", ["--registry", str(tmp / "empty")], child_env(), args.n_catalog,
                                 args.seed, tmp)
            generated = synthesize("generated", [], child_env(ENVFACTORY_ENVS=str(envs)), args.n_generated,
                                   args.seed, tmp)
        finally:
            stop_all()
        report(compute_stats(catalog), compute_stats(generated))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
