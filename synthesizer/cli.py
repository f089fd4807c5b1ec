"""Typer-annotated commands the `envfactory` app registers: `synthesize` and `export`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from registry.envdir import EnvLoadError
from synthesizer.errors import SynthError


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=1)


def synthesize(
    n: Annotated[int, typer.Option("--n", min=0, help="number of trajectories to synthesize")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="run seed (same seed, same servers -> same bytes)")] = 0,
    out: Annotated[Path, typer.Option("--out", help="run directory (re-run to resume)")] = Path("runs/demo"),
    mcp_config: Annotated[Path | None, typer.Option("--mcp-config", help="mcp.json with the servers to use")] = None,
    url: Annotated[list[str] | None, typer.Option("--url", help="streamable HTTP MCP URL (repeatable)")] = None,
    farm: Annotated[str | None, typer.Option("--farm", help="env farm base URL (every env it serves)")] = None,
    farm_token: Annotated[str | None, typer.Option("--farm-token", help="bearer token for --farm "
                                                   "(default: $ENVFACTORY_TOKEN)")] = None,
) -> None:
    """Synthesize verified tool-use trajectories from MCP servers (default: the registry catalog)."""
    from synthesizer.run import SynthConfig
    from synthesizer.run import synthesize as run_synthesize

    config = SynthConfig(n=n, seed=seed, out=out, mcp_config=mcp_config, urls=list(url or []), farm=farm,
                         farm_token=farm_token)
    try:
        summary = asyncio.run(run_synthesize(config))
    except (SynthError, EnvLoadError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None
    console = Console()
    table = Table(title=f"{summary.count} trajectories in {summary.out} ({summary.new} new, {summary.seconds:.1f} s)")
    for col in ("environment", "trajectories", "avg calls", "verified", "attempts", "skipped"):
        table.add_column(col, justify="left" if col == "environment" else "right", no_wrap=True)
    for c in summary.servers:
        table.add_row(f"{c.name} {c.version}".strip(), str(c.trajectories), f"{c.avg_calls:.1f}",
                      f"{c.verified}/{c.trajectories}", str(c.attempts), str(c.skipped))
    console.print(table)
    for w in summary.warnings:
        console.print(f"[yellow]warning:[/] {w}")


def export(
    run_dir: Annotated[Path, typer.Argument(help="run directory written by `synthesize`")],
    format: Annotated[str, typer.Option("--format", help="output format: openai")] = "openai",
    out: Annotated[Path | None, typer.Option("--out", help="output file (default <run_dir>/<format>.jsonl)")] = None,
) -> None:
    """Export trajectories for fine-tuning."""
    from synthesizer.export import FORMATS, export_openai

    if format not in FORMATS:
        raise _fail(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
    target = out or (run_dir / f"{format}.jsonl")
    try:
        count = export_openai(run_dir, target)
    except SynthError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None
    Console().print(f"wrote {count} {format} rows to {target}")
