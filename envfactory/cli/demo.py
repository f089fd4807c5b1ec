"""`envfactory demo`: the main job on embedded defaults, one verb after another."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from envfactory.cli.console import out
from envfactory.cli.errors import one_line_errors
from envfactory.cli.export import export
from envfactory.cli.stats import stats
from envfactory.cli.synthesize import synthesize
from envfactory.cli.verify import verify


@one_line_errors
def demo(
    n: Annotated[int, typer.Option(help="Trajectories to synthesize.")] = 20,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/demo"),
) -> None:
    """The main job on embedded defaults: verify all, synthesize offline over MCP, export SFT data."""
    started = time.monotonic()
    verify(None, True)
    synthesize(n=n, seed=seed, out=out_dir, mcp_config=None, url=None, progress=False)
    export(run_dir=out_dir, format="openai", out=out_dir / "sft.openai.jsonl")
    export(run_dir=out_dir, format="verl", out=out_dir / "rl.verl.parquet")
    stats(run_dir=out_dir, as_json=False, plots=True, out=out_dir / "stats")
    out.print(f"[bold green]demo done[/] in {time.monotonic() - started:.1f} s: "
              f"trajectories in {out_dir / 'trajectories.jsonl'}, SFT data in {out_dir / 'sft.openai.jsonl'}, "
              f"RL rows in {out_dir / 'rl.verl.parquet'}, statistics in {out_dir / 'stats'}")
