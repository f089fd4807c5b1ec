"""The typer-annotated `export` command (registered as `envfactory export`): a run's verified trajectories to a
training format."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from synthesizer.errors import SynthError


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=1)


def export(
    run_dir: Annotated[Path, typer.Argument(help="run directory written by `synthesize` (or its trajectories.jsonl)")],
    format: Annotated[str, typer.Option("--format", help="openai, sharegpt, llamafactory or verl")] = "openai",
    out: Annotated[Path | None, typer.Option("--out", help="output file (default <run_dir>/<format>.jsonl, "
                                             "or .parquet for verl)")] = None,
) -> None:
    """Export verified trajectories for fine-tuning (openai, sharegpt, llamafactory) or RL (verl)."""
    from synthesizer.data.export import FORMATS
    from synthesizer.data.export import export as run_export

    if format not in FORMATS:
        raise _fail(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
    try:
        result = run_export(run_dir, format, out)
    except SynthError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None
    console = Console()
    console.print(f"wrote {result.rows} {format} rows to {result.path}", highlight=False, soft_wrap=True)
    if result.unverified:
        console.print(f"skipped {result.unverified} unverified of {result.read} trajectories", highlight=False)
    if result.dataset_info is not None:
        console.print(f"updated {result.dataset_info}", highlight=False, soft_wrap=True)
    for problem in result.problems:
        console.print(f"[yellow]warning:[/] skipped {problem}", highlight=False)
