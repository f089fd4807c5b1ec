"""Typer-annotated `synthesize` command (the `envfactory` app registers it; export, stats, graph live beside it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from envfactory.cli.errors import one_line_errors
from envfactory.cli.workspace import RegistryOption, workspace
from synthesizer.run import SynthConfig
from synthesizer.run import synthesize as run_synthesize


@one_line_errors
def synthesize(
    n: Annotated[int, typer.Option("--n", min=0, help="number of trajectories to write")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="run seed (same seed, same servers -> same samples)")] = 0,
    out: Annotated[Path, typer.Option("--out", help="run directory (re-run to resume)")] = Path("runs/demo"),
    mcp_config: Annotated[Path | None, typer.Option("--mcp-config", help="mcp.json with the servers to use")] = None,
    url: Annotated[list[str] | None, typer.Option("--url", help="streamable HTTP MCP URL (repeatable)")] = None,
    stdio: Annotated[list[str] | None, typer.Option("--stdio", help="stdio MCP server command, quoted "
                                                    "(repeatable)")] = None,
    farm: Annotated[str | None, typer.Option("--farm", help="env farm base URL (every env it serves)")] = None,
    farm_token: Annotated[str | None, typer.Option("--farm-token", help="bearer token for --farm "
                                                   "(default: $ENVFACTORY_TOKEN)")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="samples in flight")] = 4,
    k: Annotated[int, typer.Option("--k", min=1, max=16, help="assistant rollouts per sample (pass@k)")] = 1,
    model_roles: Annotated[list[str] | None, typer.Option(
        "--model-roles", help="roles a model plays via ENVFACTORY_LLM_*: planner,writer,refiner,user,assistant,"
        "judge or all (default: every role offline)")] = None,
    max_servers: Annotated[int, typer.Option("--max-servers", min=1, help="servers per sample")] = 3,
    max_depth: Annotated[int, typer.Option("--max-depth", min=1, help="longest dependency path")] = 4,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, help="attempts per sample")] = 12,
    embeddings: Annotated[bool, typer.Option("--embeddings", help="score graph edges with an embeddings endpoint "
                                             "(ENVFACTORY_EMBED_*)")] = False,
    review: Annotated[bool, typer.Option("--review", help="let the model review candidate graph edges")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="progress bar on a terminal")] = True,
    registry: RegistryOption = None,
) -> None:
    """Synthesize verified tool-use trajectories from MCP servers (default: the registry catalog)."""
    config = SynthConfig(n=n, seed=seed, out=out, mcp_config=mcp_config, urls=list(url or []),
                         stdio=list(stdio or []), farm=farm, farm_token=farm_token, concurrency=concurrency, k=k,
                         model_roles=list(model_roles or []), max_servers=max_servers, max_depth=max_depth,
                         max_attempts=max_attempts, embeddings=embeddings, review=review, progress=progress)
    with workspace(registry):
        summary = asyncio.run(run_synthesize(config))
    console = Console()
    console.print(f"{summary.count} trajectories in {summary.out} ({summary.new} new, {summary.seconds:.1f} s, "
                  f"{summary.attempts} attempts)", highlight=False)
    table = Table(show_header=True)
    for col in ("by", "counts"):
        table.add_column(col)
    for label, counts in (("environment", summary.by_env), ("topology", summary.by_topology),
                          ("mode", summary.by_mode), ("kind", summary.by_kind), ("rejected", summary.rejected)):
        table.add_row(label, ", ".join(f"{key} {v}" for key, v in counts.items()) or "-")
    console.print(table)
    for name, why in summary.failed_servers.items():
        console.print(f"[yellow]server skipped:[/] {name}: {why}", highlight=False)
    for w in summary.warnings[:20]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if len(summary.warnings) > 20:
        console.print(f"[yellow]... and {len(summary.warnings) - 20} more warnings (see manifest.json)[/]")
