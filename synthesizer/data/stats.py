"""Dataset statistics of a run directory: what a run covers (environments, topologies, modes, kinds, tools), how
well it verifies, whether first user turns leak tool names or ids the user could not know, and the data-quality
report (synthesizer.data.quality: defect rates with offending ids, openings, duplicates); plus bar charts.

Records are streamed (one validated `Trajectory` at a time) so large runs do not have to fit in memory.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError

from synthesizer.data.leaks import leaked_tools
from synthesizer.data.quality import QualityReport, QualityTally
from synthesizer.data.records import (
    FORMAT,
    Mode,
    SampleKind,
    TopologyKind,
    Trajectory,
    qualified,
    read_manifest,
    split_qualified,
)
from synthesizer.errors import SynthError

TRAJECTORIES = "trajectories.jsonl"  # same names as synthesizer.run, not imported: run pulls in the whole pipeline
MANIFEST = "manifest.json"
MAX_EXAMPLES = 10
MIN_ID_CHARS = 4  # shorter fed strings ("ok", "EU") appear in ordinary prose
MIN_ID_DIGITS = 4  # shorter fed numbers (counts, small ids) appear in ordinary prose


class LeakExample(BaseModel):
    id: str  # trajectory id
    items: list[str]  # leaked tool names, or `<tool>.<param>=<value>` for ids


class Leaks(BaseModel):
    """Leaks found in first user messages: `records` is how many records leak at least once."""

    records: int = 0
    occurrences: int = 0  # distinct leaked items summed over records
    counts: dict[str, int] = Field(default_factory=dict)  # leaked item -> records it leaks in
    examples: list[LeakExample] = Field(default_factory=list)  # the first MAX_EXAMPLES leaking records


class ServerCoverage(BaseModel):
    server: str
    used: int
    total: int
    fraction: float
    never_used: list[str]  # raw tool names
    source: Literal["manifest", "records"]  # where the tool list came from (records: the manifest had none)


class ToolCoverage(BaseModel):
    used: int
    total: int
    fraction: float
    never_used: list[str]  # namespaced <server>__<tool>
    unknown: list[str] = Field(default_factory=list)  # plan tools no listed server has
    servers: list[ServerCoverage] = Field(default_factory=list)


class PassRates(BaseModel):
    evaluated: int = 0  # records with k > 0
    mean: float | None = None
    histogram: dict[float, int] = Field(default_factory=dict)  # rate (3 decimals) -> records


class CheckCounts(BaseModel):
    state_match: dict[str, int] = Field(default_factory=lambda: {"true": 0, "false": 0, "none": 0})
    calls_matched: int = 0
    unhandled_error_records: int = 0
    unhandled_errors: int = 0
    tool_errors: int = 0
    behaviour_ok: int = 0
    finished: int = 0


class TokenMeans(BaseModel):
    prompt: float = 0.0
    completion: float = 0.0
    total: float = 0.0


class RunStats(BaseModel):
    run_dir: str
    manifest: bool  # whether manifest.json was present
    trajectories: int
    verified: int
    verified_pct: float
    by_environment: dict[str, int]
    by_topology: dict[str, int]
    by_mode: dict[str, int]
    by_kind: dict[str, int]
    by_mode_kind: dict[str, dict[str, int]]  # mode -> kind -> records
    by_turns: dict[int, int]  # user turns -> records
    by_tool_calls: dict[int, int]  # assistant tool calls -> records
    coverage: ToolCoverage
    pass_at_k: PassRates
    leaked_tool_names: Leaks
    leaked_ids: Leaks
    judge: dict[str, int]  # pass / fail / none
    checks: CheckCounts
    tokens: TokenMeans
    attempts: int | None = None  # from the manifest's stats
    rejected: dict[str, int] = Field(default_factory=dict)  # rejection reason -> attempts, from the manifest
    quality: QualityReport = Field(default_factory=QualityReport)  # defect rates, openings (synthesizer.data.quality)


class _Server(BaseModel):
    """One server of the manifest; `tools` is None when the manifest does not list the tool names."""

    name: str
    tools: list[str] | None = None


# ---------------------------------------------------------------------------------------------------------- reading


def manifest_servers(manifest: dict[str, Any] | None) -> list[_Server]:
    out = []
    for s in (manifest or {}).get("servers") or []:
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            continue
        tools = s.get("tools")
        names = [t for t in tools if isinstance(t, str)] if isinstance(tools, list) else None
        out.append(_Server(name=s["name"], tools=names))
    return out


def _line_error(path: Path, n: int, exc: ValidationError) -> SynthError:
    err = exc.errors()[0]
    if err["type"] == "json_invalid":
        return SynthError(f"{path}: line {n} is not valid JSON")
    loc = ".".join(str(p) for p in err["loc"]) or "record"
    return SynthError(f"{path}: line {n} is not an {FORMAT} record ({loc}: {err['msg']})")


def iter_trajectories(run_dir: Path) -> Iterator[Trajectory]:
    """Validated records, one at a time; the first malformed line stops with a SynthError naming file and line."""
    if not run_dir.is_dir():
        raise SynthError(f"{run_dir}: no such run directory")
    path = run_dir / TRAJECTORIES
    if not path.is_file():
        raise SynthError(f"{path}: no trajectories file (run `envfactory synthesize --out {run_dir}` first)")
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = Trajectory.model_validate_json(line)
            except ValidationError as exc:
                raise _line_error(path, n, exc) from None
            if record.format != FORMAT:
                raise SynthError(f"{path}: line {n} has format {record.format!r}, expected {FORMAT!r}")
            yield record


# ---------------------------------------------------------------------------------------------------------- leaks


def first_user_text(t: Trajectory) -> str:
    """The first user message's text (string or content parts); the record's `query` if there is none."""
    for m in t.messages:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, list):
            return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        return content if isinstance(content, str) else ""
    return t.query


def _scalars(value: Any) -> Iterator[Any]:
    if isinstance(value, list | tuple):
        for v in value:
            yield from _scalars(v)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield value


def _id_like(value: Any) -> str | None:
    """The text to look for, when the value is specific enough that finding it verbatim is no coincidence."""
    if isinstance(value, str):
        return value if len(value.strip()) >= MIN_ID_CHARS else None
    text = str(value)
    return text if sum(c.isdigit() for c in text) >= MIN_ID_DIGITS else None


def _appears(needle: str, text: str, numeric: bool) -> bool:
    if numeric:
        return re.search(rf"(?<![\d.]){re.escape(needle)}(?!\.?\d)", text) is not None
    start = r"(?<!\w)" if re.match(r"\w", needle) else ""
    end = r"(?!\w)" if re.search(r"\w$", needle) else ""
    return re.search(rf"{start}{re.escape(needle)}{end}", text) is not None


def leaked_ids(t: Trajectory, text: str) -> list[str]:
    """Fed argument values (from an earlier call's output) that the first user message states verbatim."""
    found = []
    for call in t.plan:
        for feed in call.depends:
            for value in _scalars(call.arguments.get(feed.param)):
                needle = _id_like(value)
                if needle and _appears(needle, text, numeric=not isinstance(value, str)):
                    found.append(f"{call.name}.{feed.param}={needle}")
    return sorted(set(found))


def _add_leak(leaks: Leaks, record_id: str, items: list[str]) -> None:
    if not items:
        return
    leaks.records += 1
    leaks.occurrences += len(items)
    for item in items:
        leaks.counts[item] = leaks.counts.get(item, 0) + 1
    if len(leaks.examples) < MAX_EXAMPLES:
        leaks.examples.append(LeakExample(id=record_id, items=items))


# ---------------------------------------------------------------------------------------------------------- aggregation


def _assistant_tool_calls(t: Trajectory) -> int:
    return sum(len(m.get("tool_calls") or []) for m in t.messages if m.get("role") == "assistant")


def _shown_tools(t: Trajectory) -> Iterator[str]:
    for tool in t.tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            yield fn["name"]


class _Tally:
    """Running counts over the records; `finish` turns them into RunStats."""

    def __init__(self) -> None:
        self.n = 0
        self.verified = 0
        keys = ("env", "topo", "mode", "kind", "turns", "calls")
        self.counters: dict[str, Counter[Any]] = {k: Counter() for k in keys}
        self.mode_kind: Counter[tuple[str, str]] = Counter()
        self.used: set[str] = set()
        self.shown: set[str] = set()
        self.first_texts: list[tuple[str, str]] = []  # (id, text): tool-name leaks need the full tool universe
        self.id_leaks = Leaks()
        self.rates: list[float] = []
        self.judge: Counter[str] = Counter()
        self.checks = CheckCounts()
        self.tokens: Counter[str] = Counter()
        self.quality = QualityTally()

    def add(self, t: Trajectory) -> None:
        self.n += 1
        self.verified += t.checks.verified
        for env in dict.fromkeys(e.name for e in t.envs):
            self.counters["env"][env] += 1
        self.counters["topo"][t.topology.kind] += 1
        self.counters["mode"][t.mode] += 1
        self.counters["kind"][t.kind] += 1
        self.counters["turns"][t.turns] += 1
        self.counters["calls"][_assistant_tool_calls(t)] += 1
        self.mode_kind[(t.mode, t.kind)] += 1
        self.used.update(c.name for c in t.plan)
        self.shown.update(_shown_tools(t))
        text = first_user_text(t)
        self.first_texts.append((t.id, text))
        _add_leak(self.id_leaks, t.id, leaked_ids(t, text))
        if t.pass_at_k.k > 0:
            self.rates.append(t.pass_at_k.rate)
        self.judge[t.judge.verdict or "none"] += 1
        self._add_checks(t)
        for key in ("prompt", "completion", "total"):
            self.tokens[key] += int(t.tokens.get(key, 0))
        self.quality.add(t)

    def _add_checks(self, t: Trajectory) -> None:
        c, out = t.checks, self.checks
        out.state_match[{True: "true", False: "false", None: "none"}[c.state_match]] += 1
        out.calls_matched += c.calls.matched
        out.unhandled_error_records += bool(c.unhandled_errors)
        out.unhandled_errors += len(c.unhandled_errors)
        out.tool_errors += c.tool_errors
        out.behaviour_ok += c.behaviour_ok
        out.finished += c.finished


def _ordered(counter: Counter[str], known: Iterable[str]) -> dict[str, int]:
    """Known keys first, in their order and with zeros (stable tables and charts), then any others sorted."""
    known = list(dict.fromkeys(known))
    return {**{k: counter.get(k, 0) for k in known}, **{k: counter[k] for k in sorted(set(counter) - set(known))}}


def _numeric(counter: Counter[int]) -> dict[int, int]:
    return {k: counter[k] for k in sorted(counter)}


def _universe(servers: list[_Server], tally: _Tally) -> dict[str, tuple[list[str], Literal["manifest", "records"]]]:
    """server -> (raw tool names, source): the manifest's lists, else what the records showed or planned."""
    seen: dict[str, set[str]] = {}
    for name in tally.shown | tally.used:
        server, tool = split_qualified(name)
        if server:
            seen.setdefault(server, set()).add(tool)
    out: dict[str, tuple[list[str], Literal["manifest", "records"]]] = {}
    for s in servers:
        if s.tools is not None:
            out[s.name] = (list(dict.fromkeys(s.tools)), "manifest")
        else:
            out[s.name] = (sorted(seen.get(s.name, set())), "records")
    for server in sorted(set(seen) - set(out)):
        out[server] = (sorted(seen[server]), "records")
    return out


def _fraction(used: int, total: int) -> float:
    return used / total if total else 0.0


def coverage(universe: dict[str, tuple[list[str], Literal["manifest", "records"]]], used: set[str]) -> ToolCoverage:
    servers, all_names = [], set()
    for server, (tools, source) in universe.items():
        names = [qualified(server, t) for t in tools]
        all_names.update(names)
        hit = sum(n in used for n in names)
        servers.append(ServerCoverage(server=server, used=hit, total=len(names), fraction=_fraction(hit, len(names)),
                                      never_used=[t for t, n in zip(tools, names, strict=True) if n not in used],
                                      source=source))
    hit = len(all_names & used)
    never = [n for s in servers for n in (qualified(s.server, t) for t in s.never_used)]
    return ToolCoverage(used=hit, total=len(all_names), fraction=_fraction(hit, len(all_names)), never_used=never,
                        unknown=sorted(used - all_names), servers=servers)


def _tool_leaks(universe: dict[str, tuple[list[str], Literal["manifest", "records"]]],
                texts: list[tuple[str, str]]) -> Leaks:
    names = [qualified(server, tool) for server, (tools, _) in universe.items() for tool in tools]
    leaks = Leaks()
    for record_id, text in texts:
        _add_leak(leaks, record_id, leaked_tools(text, names))
    return leaks


def _pass_rates(rates: list[float]) -> PassRates:
    if not rates:
        return PassRates()
    hist = Counter(round(r, 3) for r in rates)
    return PassRates(evaluated=len(rates), mean=sum(rates) / len(rates), histogram={k: hist[k] for k in sorted(hist)})


def _manifest_stats(manifest: dict[str, Any] | None) -> tuple[int | None, dict[str, int]]:
    stats = (manifest or {}).get("stats")
    if not isinstance(stats, dict):
        return None, {}
    attempts = stats.get("attempts") if isinstance(stats.get("attempts"), int) else None
    rejected = stats.get("rejected")
    if not isinstance(rejected, dict):
        rejected = {}
    return attempts, {str(k): v for k, v in rejected.items() if isinstance(v, int) and not isinstance(v, bool)}


def compute_stats(run_dir: Path) -> RunStats:
    """Statistics of a run directory (trajectories.jsonl, and manifest.json when present)."""
    tally = _Tally()
    for record in iter_trajectories(run_dir):
        tally.add(record)
    manifest = read_manifest(run_dir / MANIFEST)
    servers = manifest_servers(manifest)
    universe = _universe(servers, tally)
    attempts, rejected = _manifest_stats(manifest)
    modes, kinds = get_args(Mode), get_args(SampleKind)
    n = tally.n
    return RunStats(
        run_dir=str(run_dir), manifest=manifest is not None, trajectories=n, verified=tally.verified,
        verified_pct=100.0 * tally.verified / n if n else 0.0,
        by_environment=_ordered(tally.counters["env"], (s.name for s in servers)),
        by_topology=_ordered(tally.counters["topo"], get_args(TopologyKind)),
        by_mode=_ordered(tally.counters["mode"], modes), by_kind=_ordered(tally.counters["kind"], kinds),
        by_mode_kind={m: {k: tally.mode_kind.get((m, k), 0) for k in kinds} for m in modes},
        by_turns=_numeric(tally.counters["turns"]), by_tool_calls=_numeric(tally.counters["calls"]),
        coverage=coverage(universe, tally.used), pass_at_k=_pass_rates(tally.rates),
        leaked_tool_names=_tool_leaks(universe, tally.first_texts), leaked_ids=tally.id_leaks,
        judge=_ordered(tally.judge, ("pass", "fail", "none")), checks=tally.checks,
        tokens=TokenMeans(**{k: tally.tokens[k] / n if n else 0.0 for k in ("prompt", "completion", "total")}),
        attempts=attempts, rejected=rejected, quality=tally.quality.report(),
    )


# ---------------------------------------------------------------------------------------------------------- plots


PLOTS = ("by_environment", "by_topology", "by_mode_kind", "turns", "tool_coverage", "pass_rate")


def _bars(ax: Any, groups: Mapping[str, Mapping[str, float]], series: list[str]) -> None:
    """Grouped bars: one group per key of `groups`, one bar per series inside a group."""
    labels = list(groups)
    width = 0.8 / max(len(series), 1)
    for i, name in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
        ax.bar(xs, [groups[label].get(name, 0) for label in labels], width=width, label=name)
    crowded = len(labels) > 4
    ax.set_xticks(range(len(labels)), labels, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    if len(series) > 1:
        ax.legend()
    if not labels:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)


def _chart(path: Path, title: str, xlabel: str, ylabel: str, groups: Mapping[str, Mapping[str, float]],
           series: list[str]) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(8, 4.5), layout="tight")
    FigureCanvasAgg(fig)  # the Agg backend for this figure only: no pyplot, no global backend switch
    ax = fig.add_subplot()
    _bars(ax, groups, series)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # every chart counts things
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
    return path


def _single(counts: dict[Any, int] | dict[Any, float]) -> dict[str, dict[str, float]]:
    return {str(k): {"records": v} for k, v in counts.items()}


def write_plots(stats: RunStats, out_dir: Path) -> list[Path]:
    """PNG bar charts of the run, one file per entry of PLOTS (fixed names), in that order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n = f"{stats.trajectories} trajectories"
    cov = {s.server: {"used": s.used, "total": s.total} for s in stats.coverage.servers}
    kinds = list(next(iter(stats.by_mode_kind.values()), {}))
    specs: list[tuple[str, str, str, str, Mapping[str, Mapping[str, float]], list[str]]] = [
        ("by_environment", f"Trajectories by environment ({n})", "environment", "trajectories",
         _single(stats.by_environment), ["records"]),
        ("by_topology", f"Trajectories by topology ({n})", "topology", "trajectories", _single(stats.by_topology),
         ["records"]),
        ("by_mode_kind", f"Trajectories by mode and sample kind ({n})", "mode", "trajectories",
         {m: dict(v) for m, v in stats.by_mode_kind.items()}, kinds),
        ("turns", f"User turns per trajectory ({n})", "user turns", "trajectories", _single(stats.by_turns),
         ["records"]),
        ("tool_coverage", f"Tool coverage per server ({stats.coverage.used}/{stats.coverage.total} tools used)",
         "server", "tools", cov, ["used", "total"]),
        ("pass_rate", f"pass@k rate ({stats.pass_at_k.evaluated} evaluated)", "pass rate", "trajectories",
         _single(stats.pass_at_k.histogram), ["records"]),
    ]
    return [_chart(out_dir / f"{name}.png", title, x, y, groups, series) for name, title, x, y, groups, series in specs]
