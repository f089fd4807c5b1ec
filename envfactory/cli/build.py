"""`envfactory build`: API descriptions in, verified environments admitted to the workspace registry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from envfactory.cli.console import err, out
from envfactory.cli.errors import fail, one_line_errors
from envfactory.cli.workspace import RegistryOption, workspace
from servers.factory.build import Builder, BuildOptions

COLORS = {"admitted": "green", "unchanged": "cyan", "failed": "red", "error": "red"}


@one_line_errors
def build(
    specs: Annotated[list[str], typer.Argument(help="OpenAPI/Swagger files, EnvSpec files, or MCP servers "
                                                    "(mcp+stdio:COMMAND or an http(s) URL).")],
    offline: Annotated[bool, typer.Option("--offline", help="Generate without a model (the default).")] = False,
    model: Annotated[str | None, typer.Option(help="Model name (OpenAI-compatible endpoint).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Model endpoint (default: ENVFACTORY_LLM_BASE_URL).")] = None,
    jobs: Annotated[int, typer.Option(help="Environments built at once.")] = 2,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted build, skipping finished stages.")] = False,
    force: Annotated[bool, typer.Option(help="Rebuild even when the input is unchanged.")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="Build directory (checkpoints, attempts, reports).")] = Path(
        "build"),
    max_attempts: Annotated[int, typer.Option(help="Model attempts per environment.")] = 3,
    registry: RegistryOption = None,
) -> None:
    """Import API descriptions, generate environments, verify them, admit the ones that pass to the workspace."""
    if offline and model:
        fail("choose --offline or --model, not both")
    options = BuildOptions(out=out_dir, offline=not model, model=model, base_url=base_url, jobs=jobs, resume=resume,
                           force=force, max_attempts=max_attempts)
    status: dict[str, str] = {}

    def render() -> Table:
        t = Table(title="building", show_header=False)
        for name, stage in status.items():
            t.add_row(name, stage)
        return t

    with workspace(registry), Live(render(), console=err, transient=True, refresh_per_second=4) as live:
        def progress(name: str, stage: str) -> None:
            status[Path(name).name if "/" in name else name] = stage
            live.update(render())

        builder = Builder(options, progress)
        results = asyncio.run(builder.build_all(specs))
    table = Table(title=f"build ({'offline' if options.offline else options.model})")
    for col in ("environment", "tools", "scenarios", "checks", "verdict", "seconds", "tokens"):
        table.add_column(col)
    for r in results:
        table.add_row(r.name or r.source, str(r.tools), str(r.scenarios), str(r.checks),
                      f"[{COLORS[r.verdict]}]{r.verdict}[/]", f"{r.seconds:.1f}", str(r.tokens))
    out.print(table)
    for r in results:
        if r.verdict in ("failed", "error"):
            err.print(f"{r.name or r.source}: {r.reason}", markup=False, highlight=False)
    ok = sum(r.verdict in ("admitted", "unchanged") for r in results)
    out.print(f"{ok} of {len(results)} environments in the registry ({builder.registry})", soft_wrap=True)
    if ok < len(results):
        raise typer.Exit(1)
