"""Exporters: OpenAI chat fine-tuning format with tools (one {"messages", "tools"} object per line)."""

from __future__ import annotations

import json
from pathlib import Path

from synthesizer.errors import SynthError
from synthesizer.run import TRAJECTORIES

FORMATS = ("openai",)


def read_trajectories(run_dir: Path) -> list[dict]:
    path = run_dir / TRAJECTORIES if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise SynthError(f"{path}: no trajectories file (run `envfactory synthesize --out {run_dir}` first)")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if n == len(path.read_text(encoding="utf-8").splitlines()):
                break  # a truncated last line from an interrupted run
            raise SynthError(f"{path}: line {n} is not valid JSON") from None
    return records


def export_openai(run_dir: Path, out_path: Path) -> int:
    """Write one {"messages": [...], "tools": [...]} line per trajectory; return how many."""
    records = read_trajectories(run_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({"messages": r["messages"], "tools": r["tools"]}, ensure_ascii=False,
                                separators=(",", ":")) + "\n")
    return len(records)
