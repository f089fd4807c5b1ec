"""`synthesize(config)`: discover servers, build the tool graph, synthesize samples concurrently, append them in
index order (crash-safe, resumable), and keep a manifest of what made them."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from contextlib import AsyncExitStack
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from common.embeddings import EmbeddingClient, EmbeddingSettings
from common.files import write_json_atomic
from common.llm import LLMClient, LLMSettings
from registry.envdir import EnvLoadError, find_env
from synthesizer.data.records import FORMAT as RECORD_FORMAT
from synthesizer.data.records import read_manifest
from synthesizer.discovery.controlplane import ControlPlane
from synthesizer.discovery.sources import (
    ConnectedServer,
    ServerSource,
    connect_all,
    farm_token,
    resolve_sources,
    sources_from_farm,
)
from synthesizer.errors import SynthError
from synthesizer.graph.build import build_tool_graph
from synthesizer.graph.stats import graph_stats
from synthesizer.graph.union import param_statable, tool_links
from synthesizer.pipeline import MAX_ATTEMPTS, IndexOutcome, RunContext, synthesize_index
from synthesizer.plan.schedule import Schedule
from synthesizer.plan.topology import Sampler, ToolCatalog
from synthesizer.query.roles.factory import model_roles

TRAJECTORIES = "trajectories.jsonl"
MANIFEST = "manifest.json"
FORMAT = "envfactory.run/2"


class SynthConfig(BaseModel):
    n: int = Field(20, ge=0)
    seed: int = 0
    out: Path = Path("runs/demo")
    mcp_config: Path | None = None
    urls: list[str] = Field(default_factory=list)
    stdio: list[str] = Field(default_factory=list)  # stdio server commands ("npx -y some-mcp-server")
    farm: str | None = None  # env farm base URL: GET <farm>/api/envs, then <farm>/envs/<name>/mcp
    farm_token: str | None = Field(default=None, repr=False)  # else $ENVFACTORY_TOKEN
    fast_client: bool = True  # HTTP tool calls through the thin RolloutClient (False: the SDK client)
    max_attempts: int = Field(MAX_ATTEMPTS, ge=1)
    concurrency: int = Field(4, ge=1, le=1024)
    k: int = Field(1, ge=1, le=16)  # assistant rollouts per sample (pass@k)
    model_roles: list[str] = Field(default_factory=list)  # roles a model plays (ENVFACTORY_LLM_*); others offline
    max_servers: int = Field(3, ge=1)
    max_depth: int = Field(4, ge=1)
    embeddings: bool = False
    review: bool = False
    progress: bool = True


class SynthSummary(BaseModel):
    out: Path
    count: int
    new: int
    by_kind: dict[str, int]
    by_topology: dict[str, int]
    by_mode: dict[str, int]
    by_env: dict[str, int]
    attempts: int
    rejected: dict[str, int]
    skipped: list[int]
    failed_servers: dict[str, str]
    warnings: list[str]
    seconds: float


def sources_key(config: SynthConfig) -> dict[str, Any]:
    """What the run dir is bound to (besides the seed): a different key means a different dataset."""
    if config.mcp_config is None and not config.urls and not config.farm and not config.stdio:
        return {"catalog": True}
    key: dict[str, Any] = {"mcp_config": str(config.mcp_config.resolve()) if config.mcp_config else None,
                           "urls": list(config.urls), "stdio": list(config.stdio)}
    if config.farm:
        key["farm"] = config.farm.rstrip("/")
    return key


def repair_and_read(path: Path) -> list[dict[str, Any]]:
    """Existing records; a truncated last line (a crash mid-write) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with path.open("r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        data = data[:keep]
    records = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            raise SynthError(f"{path}: line {n} is not valid JSON; remove it or use another --out") from exc
    return records


def check_resume(config: SynthConfig, manifest: dict[str, Any] | None, has_records: bool) -> None:
    if manifest is None:
        if has_records:
            raise SynthError(f"{config.out / TRAJECTORIES} exists without {MANIFEST}; use another --out")
        return
    old = manifest.get("config", {})
    if old.get("seed") != config.seed:
        raise SynthError(f"{config.out} was made with seed {old.get('seed')}, not {config.seed}; use another --out")
    if old.get("sources") != sources_key(config):
        raise SynthError(f"{config.out} was made from other servers ({json.dumps(old.get('sources'))}); "
                         "use another --out")


def manifest_doc(config: SynthConfig, ctx: RunContext | None, count: int, skipped: list[int], finished: bool,
                 stats: dict[str, Any], failed: dict[str, str], graph: dict[str, Any]) -> dict[str, Any]:
    servers = list(ctx.servers.values()) if ctx else []
    return {
        "format": FORMAT,
        "config": {"n": config.n, "seed": config.seed, "sources": sources_key(config),
                   "max_attempts": config.max_attempts, "k": config.k, "concurrency": config.concurrency,
                   "max_servers": config.max_servers, "max_depth": config.max_depth,
                   "model_roles": config.model_roles},
        "servers": [{"name": s.info.name, "server_name": s.info.server_name, "version": s.info.version,
                     "transport": s.info.transport, "tools_hash": s.info.tools_hash, "env_hash": s.info.env_hash,
                     "tools": [t.name for t in s.info.tools], "scenarios": s.info.scenarios} for s in servers],
        "failed_servers": failed | (dict(ctx.dead) if ctx else {}),
        "models": dict(ctx.roles.models) if ctx else {},
        "prompt_hashes": dict(ctx.roles.prompt_hashes) if ctx else {},
        "graph": graph,
        "versions": {"envfactory": package_version(), "record_format": RECORD_FORMAT},
        "count": count,
        "skipped": skipped,
        "finished": finished,
        "stats": stats,
    }


def package_version() -> str:
    try:
        return version("envfactory")
    except PackageNotFoundError:
        return "unknown"


def append_line(fh: Any, line: str) -> None:
    fh.write(line.encode("utf-8"))
    fh.flush()
    os.fsync(fh.fileno())


def _progress(enabled: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(TextColumn("[bold]synthesize"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True,
                    disable=not (enabled and console.is_terminal))


async def synthesize(config: SynthConfig) -> SynthSummary:
    started = time.perf_counter()
    out = config.out
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out} exists and is not a directory")
    token = farm_token(config.farm_token)
    farm_sources = await sources_from_farm(config.farm, token) if config.farm else None
    sources: list[ServerSource] = resolve_sources(config.mcp_config, config.urls, farm_sources, config.stdio)
    manifest_path, traj_path = out / MANIFEST, out / TRAJECTORIES
    manifest = read_manifest(manifest_path)
    existing = repair_and_read(traj_path)
    check_resume(config, manifest, bool(existing))
    out.mkdir(parents=True, exist_ok=True)
    done = {int(r["index"]) for r in existing if isinstance(r, dict) and "index" in r}
    prefix = f"synth-{uuid.uuid4().hex[:12]}"  # never reuse a live server's episode from an earlier run
    warnings: list[str] = []
    failed: dict[str, str] = {}

    def on_failure(source: ServerSource, why: str) -> None:
        failed[source.name] = why
        warnings.append(f"skipped server {source.name!r}: {why}")

    async with AsyncExitStack() as stack:
        servers = await stack.enter_async_context(connect_all(sources, fast=config.fast_client, on_failure=on_failure))
        if not servers:
            raise SynthError("no MCP server could be reached: " + "; ".join(failed.values()))
        control = None
        if config.farm:
            control = await stack.enter_async_context(ControlPlane(config.farm, token=token))
        ctx, graph_summary = await build_context(config, servers, prefix, control, stack)
        if manifest and [s["name"] for s in manifest.get("servers", [])] != list(ctx.servers):
            raise SynthError(f"{out} was made from other servers ({[s['name'] for s in manifest.get('servers', [])]},"
                             f" now {list(ctx.servers)}); use another --out")
        write_json_atomic(manifest_path, manifest_doc(config, ctx, len(existing), [], False, {}, failed,
                                                      graph_summary))
        outcomes: dict[int, IndexOutcome] = {}
        with traj_path.open("ab") as fh, _progress(config.progress) as progress:
            task = progress.add_task("", total=config.n)
            progress.update(task, completed=min(len(existing), config.n))
            written = await run_indices(ctx, config, done, len(existing), fh, outcomes,
                                        lambda: progress.advance(task))
        new = written - len(existing)
        skipped = sorted(i for i, o in outcomes.items() if o.trajectory is None)
        warnings += [o.warning for i, o in sorted(outcomes.items()) if o.warning and o.trajectory is None]
        if written < config.n:
            warnings.append(f"{written} of {config.n} trajectories could be made")
        records = repair_and_read(traj_path)
        rejected: dict[str, int] = {}
        for o in outcomes.values():
            for k, v in o.rejected.items():
                rejected[k] = rejected.get(k, 0) + v
        seconds = round(time.perf_counter() - started, 3)
        summary = SynthSummary(
            out=out, count=len(records), new=new,
            by_kind=tally(r.get("kind") for r in records), by_topology=tally(r.get("topology", {}).get("kind")
                                                                             for r in records),
            by_mode=tally(r.get("mode") for r in records),
            by_env=tally(e.get("name") for r in records for e in r.get("envs", [])),
            attempts=sum(o.attempts for o in outcomes.values()), rejected=rejected, skipped=skipped,
            failed_servers=failed | dict(ctx.dead), warnings=warnings, seconds=seconds)
        stats = {"seconds": seconds, "new": new, "attempts": summary.attempts, "rejected": rejected,
                 "warnings": warnings}
        write_json_atomic(manifest_path, manifest_doc(config, ctx, len(records), skipped, True, stats, failed,
                                                      graph_summary))
    return summary


def tally(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        if v is not None:
            out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


async def run_indices(ctx: RunContext, config: SynthConfig, done: set[int], written: int, fh: Any,
                      outcomes: dict[int, IndexOutcome], advance: Any) -> int:
    """Up to `concurrency` indices in flight; results are appended in index order, so the file is the same
    whatever finished first, and `--n` counts written trajectories (a failed index is made up by the next)."""
    last_index = config.n * 3 + 10
    pending: dict[int, asyncio.Task[IndexOutcome]] = {}
    ready: dict[int, IndexOutcome] = {}
    launch = flush = 0
    try:
        while written < config.n:
            while (len(pending) < config.concurrency and launch < last_index
                   and written + len(pending) + sum(1 for o in ready.values() if o.trajectory) < config.n):
                if launch not in done:
                    pending[launch] = asyncio.create_task(synthesize_index(ctx, launch))
                launch += 1
            if not pending:
                break
            finished, _ = await asyncio.wait(pending.values(), return_when=asyncio.FIRST_COMPLETED)
            for i in [i for i, t in pending.items() if t in finished]:
                ready[i] = pending.pop(i).result()
            while flush < launch and written < config.n:
                if flush in done:
                    flush += 1
                    continue
                if flush not in ready:
                    break
                outcome = outcomes[flush] = ready.pop(flush)
                if outcome.trajectory is not None:
                    append_line(fh, outcome.trajectory.to_line())
                    written += 1
                    advance()
                flush += 1
    finally:
        for t in pending.values():
            t.cancel()
        if pending:
            await asyncio.gather(*pending.values(), return_exceptions=True)
    return written


async def build_context(config: SynthConfig, servers: list[ConnectedServer], prefix: str,
                        control: ControlPlane | None, stack: AsyncExitStack) -> tuple[RunContext, dict[str, Any]]:
    by_name = {s.name: s for s in servers}
    per_server = {s.name: s.info.tools for s in servers}
    embedder = reviewer = None
    if config.embeddings:
        embedder = await stack.enter_async_context(EmbeddingClient(EmbeddingSettings.from_env()))
    roles, client = model_roles(config.model_roles, config.seed)
    if client is not None:
        await stack.enter_async_context(client)
    if config.review:
        reviewer = client or await stack.enter_async_context(LLMClient(LLMSettings.from_env()))
    graph = await build_tool_graph(per_server, embedder=embedder, reviewer=reviewer)
    links = tool_links(graph, nested=True)
    catalog = ToolCatalog(links, lambda q, p: param_statable(graph, q, p))
    tools = {q: catalog.tools[q] for q in sorted(catalog.tools)}
    sampler = Sampler(catalog, max_servers=config.max_servers, max_depth=config.max_depth)
    ctx = RunContext(seed=config.seed, prefix=prefix, servers=by_name, tools=tools, catalog=catalog,
                     sampler=sampler,
                     schedule=Schedule(catalog, config.seed, sampler), roles=roles,
                     system_prompt=system_prompt(servers), k=config.k, max_attempts=config.max_attempts,
                     control=control)
    ctx.initial_source = initial_state_source(control, by_name)
    stats = graph_stats(graph)
    return ctx, stats.model_dump(mode="json")


def system_prompt(servers: list[ConnectedServer]) -> str:
    """The system prompt template; `{services}` becomes, per sample, the services whose tools it shows."""
    return ("You are a helpful assistant with access to tools from these services: {services}. Use the tools to "
            "do what the user asks. If you need information only the user has, ask for it. If no tool can do what "
            "is asked, say so plainly. When you are done, tell the user briefly what you did or found.")


def initial_state_source(control: ControlPlane | None, servers: dict[str, ConnectedServer]) -> Any:
    """Where a sample's initial State comes from: the farm's control plane, else the catalog's scenario files;
    a third-party server exposes none."""

    async def from_farm(server: str, scenario: str | None) -> Any:
        assert control is not None
        return await control.scenario_state(server, scenario)

    async def from_catalog(server: str, scenario: str | None) -> Any:
        if not scenario or not servers[server].info.env_hash:
            return None
        try:
            env = find_env(server)
        except EnvLoadError:
            return None
        found = env.scenarios.get(scenario)
        return found.state if found is not None else None

    return from_farm if control is not None else from_catalog
