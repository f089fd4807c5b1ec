"""The typer-annotated `export` command (registered as `envfactory export`): a run's verified trajectories to a
training format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from envfactory.cli.errors import fail, one_line_errors
from synthesizer.data.export import FORMATS
from synthesizer.data.export import export as run_export


@one_line_errors
def export(
    run_dir: Annotated[Path, typer.Argument(help="run directory written by `synthesize` (or its trajectories.jsonl)")],
    format: Annotated[str, typer.Option("--format", help="openai, sharegpt, llamafactory or verl")] = "openai",
    out: Annotated[Path | None, typer.Option("--out", help="output file (default <run_dir>/<format>.jsonl, "
                                             "or .parquet for verl)")] = None,
) -> None:
    """Export verified trajectories for fine-tuning (openai, sharegpt, llamafactory) or RL (verl)."""
    if format not in FORMATS:
        fail(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
    result = run_export(run_dir, format, out)
    console = Console()
    console.print(f"wrote {result.rows} {format} rows to {result.path}", highlight=False, soft_wrap=True)
    if result.unverified:
        console.print(f"skipped {result.unverified} unverified of {result.read} trajectories", highlight=False)
    if result.dataset_info is not None:
        console.print(f"updated {result.dataset_info}", highlight=False, soft_wrap=True)
    for problem in result.problems:
        console.print(f"[yellow]warning:[/] skipped {problem}", highlight=False)
