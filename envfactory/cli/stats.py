"""The typer-annotated `stats` command (registered as `envfactory stats`): a run's statistics as tables, JSON and
charts, so a dataset can be judged (coverage, leaks, verification) before it is used for training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from envfactory.cli.errors import one_line_errors
from synthesizer.data.quality import defect_rows, opening_rows
from synthesizer.data.stats import Leaks, RunStats, compute_stats, write_plots

STATS_JSON = "stats.json"
QUALITY_JSON = "quality.json"


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def _counts_table(title: str, key: str, counts: dict[Any, int], total: int) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key, no_wrap=True)
    table.add_column("trajectories", justify="right")
    table.add_column("share", justify="right")
    for k, v in counts.items():
        table.add_row(str(k), str(v), _pct(v, total))
    return table


def _mode_kind_table(stats: RunStats) -> Table:
    kinds = list(next(iter(stats.by_mode_kind.values()), {}))
    table = Table(title="mode x kind", title_justify="left")
    table.add_column("mode", no_wrap=True)
    for k in kinds:
        table.add_column(k, justify="right")
    for mode, row in stats.by_mode_kind.items():
        table.add_row(mode, *(str(row.get(k, 0)) for k in kinds))
    return table


def _coverage_table(stats: RunStats) -> Table:
    table = Table(title="tool coverage per server", title_justify="left")
    for col in ("server", "used", "total", "coverage", "never used"):
        table.add_column(col, justify="right" if col in ("used", "total", "coverage") else "left")
    for s in stats.coverage.servers:
        source = "" if s.source == "manifest" else " (tools from records)"
        table.add_row(s.server + source, str(s.used), str(s.total), _pct(s.used, s.total), ", ".join(s.never_used))
    return table


def _checks_table(stats: RunStats) -> Table:
    c, n = stats.checks, stats.trajectories
    table = Table(title="checks and judge", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("trajectories", justify="right")
    rows = [("state match: true", c.state_match.get("true", 0)), ("state match: false", c.state_match.get("false", 0)),
            ("state match: none (no State hash)", c.state_match.get("none", 0)), ("calls matched", c.calls_matched),
            ("with unhandled errors", c.unhandled_error_records), ("behaviour ok", c.behaviour_ok),
            ("finished", c.finished), *((f"judge: {k}", v) for k, v in stats.judge.items())]
    for label, v in rows:
        table.add_row(label, f"{v}/{n}")
    return table


def _quality_table(stats: RunStats) -> Table:
    table = Table(title=f"quality (definitions: synthesizer/data/quality.py; ids: {QUALITY_JSON})",
                  title_justify="left")
    for col in ("defect", "records", "rate", "first ids"):
        table.add_column(col, justify="right" if col in ("records", "rate") else "left", no_wrap=col != "first ids")
    for row in defect_rows(stats.quality):
        table.add_row(*row)
    return table


def _openings_table(stats: RunStats) -> Table:
    table = Table(title="openings, duplicates, lengths", title_justify="left")
    table.add_column("measure", no_wrap=True)
    table.add_column("value")
    for row in opening_rows(stats.quality):
        table.add_row(*row)
    return table


def _leak_lines(label: str, leaks: Leaks) -> list[str]:
    lines = [f"leaked {label} in first user turns: {leaks.records}"]
    lines += [f"  {e.id}: {', '.join(e.items)}" for e in leaks.examples]
    return lines


def _summary_lines(stats: RunStats) -> list[str]:
    cov, pk, tok = stats.coverage, stats.pass_at_k, stats.tokens
    lines = [f"{stats.trajectories} trajectories in {stats.run_dir}",
             f"verified: {stats.verified}/{stats.trajectories} ({stats.verified_pct:.1f}%)",
             f"tool coverage: {100.0 * cov.fraction:.1f}% ({cov.used}/{cov.total})"]
    if cov.unknown:
        lines.append(f"  plan tools of no listed server: {', '.join(cov.unknown)}")
    lines += _leak_lines("tool names", stats.leaked_tool_names) + _leak_lines("ids", stats.leaked_ids)
    mean = "n/a" if pk.mean is None else f"{pk.mean:.3f}"
    lines.append(f"pass@k: mean rate {mean} over {pk.evaluated} evaluated")
    lines.append(f"mean tokens: {tok.total:.0f} ({tok.prompt:.0f} prompt, {tok.completion:.0f} completion)")
    if stats.attempts is not None or stats.rejected:
        rejected = ", ".join(f"{k} {v}" for k, v in stats.rejected.items()) or "none"
        lines.append(f"attempts: {stats.attempts if stats.attempts is not None else 'n/a'}; rejected: {rejected}")
    return lines


def print_stats(stats: RunStats, console: Console) -> None:
    n = stats.trajectories
    for line in _summary_lines(stats):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    for table in (_counts_table("by environment", "environment", stats.by_environment, n),
                  _counts_table("by topology", "topology", stats.by_topology, n),
                  _counts_table("by mode", "mode", stats.by_mode, n),
                  _counts_table("by sample kind", "kind", stats.by_kind, n), _mode_kind_table(stats),
                  _counts_table("by user turns", "turns", stats.by_turns, n),
                  _counts_table("by assistant tool calls", "tool calls", stats.by_tool_calls, n),
                  _coverage_table(stats), _checks_table(stats), _quality_table(stats),
                  _openings_table(stats)):
        console.print()
        console.print(table)


def _write(stats: RunStats, out: Path, plots: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / STATS_JSON
    path.write_text(stats.model_dump_json(indent=2) + "\n", encoding="utf-8")
    quality = out / QUALITY_JSON
    quality.write_text(stats.quality.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return [path, quality, *(write_plots(stats, out) if plots else [])]


@one_line_errors
def stats(
    run_dir: Annotated[Path, typer.Argument(help="run directory written by `synthesize`")],
    as_json: Annotated[bool, typer.Option("--json", help="print the statistics as JSON instead of tables")] = False,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="write PNG bar charts")] = True,
    out: Annotated[Path | None, typer.Option("--out", help="output directory (default <run_dir>/stats)")] = None,
) -> None:
    """Statistics of a run: counts, tool coverage, leaks in first user turns, verification, data quality; writes JSON
    and charts."""
    result = compute_stats(run_dir)
    written = _write(result, out or (run_dir / "stats"), plots)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    console = Console()
    print_stats(result, console)
    for path in written:
        console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
