"""`synthesize(config)`: discover servers, synthesize trajectories round-robin, append them resumably."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synthesizer.discovery import ServerSource, connect_all, farm_token, resolve_sources, sources_from_farm
from synthesizer.errors import SynthError
from synthesizer.pipeline import MAX_ATTEMPTS, ServerContext, synthesize_index

TRAJECTORIES = "trajectories.jsonl"
MANIFEST = "manifest.json"
FORMAT = "envfactory.trajectories/1"


class SynthConfig(BaseModel):
    n: int = Field(20, ge=0)
    seed: int = 0
    out: Path = Path("runs/demo")
    mcp_config: Path | None = None
    urls: list[str] = Field(default_factory=list)
    farm: str | None = None  # env farm base URL: GET <farm>/api/envs, then <farm>/envs/<name>/mcp
    farm_token: str | None = Field(default=None, repr=False)  # else $ENVFACTORY_TOKEN
    fast_client: bool = True  # HTTP tool calls through the thin RolloutClient (False: the SDK client)
    max_attempts: int = Field(MAX_ATTEMPTS, ge=1)
    progress: bool = True


class ServerCounts(BaseModel):
    name: str
    version: str
    tools: int
    trajectories: int = 0
    calls: int = 0
    verified: int = 0
    attempts: int = 0
    failed_calls: int = 0
    bad_queries: int = 0
    unverified: int = 0
    skipped: int = 0

    @property
    def avg_calls(self) -> float:
        return self.calls / self.trajectories if self.trajectories else 0.0


class SynthSummary(BaseModel):
    out: Path
    count: int
    new: int
    servers: list[ServerCounts]
    attempts: int
    rejected: dict[str, int]
    skipped: list[int]
    warnings: list[str]
    seconds: float


def sources_key(config: SynthConfig) -> dict[str, Any]:
    """What the run dir is bound to (besides the seed): a different key means a different dataset."""
    if config.mcp_config is None and not config.urls and not config.farm:
        return {"catalog": True}
    key: dict[str, Any] = {"mcp_config": str(config.mcp_config.resolve()) if config.mcp_config else None,
                           "urls": list(config.urls)}
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


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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


def read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SynthError(f"{path}: not valid JSON") from exc
    if not isinstance(doc, dict):
        raise SynthError(f"{path}: not a manifest")
    return doc


def manifest_doc(config: SynthConfig, contexts: list[ServerContext], count: int, skipped: list[int], finished: bool,
                 stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "config": {"n": config.n, "seed": config.seed, "sources": sources_key(config),
                   "max_attempts": config.max_attempts},
        "servers": [{"name": c.server.info.name, "server_name": c.server.info.server_name,
                     "version": c.server.info.version, "transport": c.server.info.transport,
                     "tools": len(c.tools), "scenarios": c.server.info.scenarios} for c in contexts],
        "count": count,
        "skipped": skipped,
        "finished": finished,
        "stats": stats,
    }


def append_line(fh: Any, line: str) -> None:
    fh.write(line.encode("utf-8"))
    fh.flush()
    os.fsync(fh.fileno())


def _progress(enabled: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(TextColumn("[bold]synthesize"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                    TimeElapsedColumn(), console=console, transient=True,
                    disable=not (enabled and console.is_terminal))


async def synthesize(config: SynthConfig) -> SynthSummary:
    started = time.perf_counter()
    out = config.out
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out} exists and is not a directory")
    farm_sources = await sources_from_farm(config.farm, farm_token(config.farm_token)) if config.farm else None
    sources: list[ServerSource] = resolve_sources(config.mcp_config, config.urls, farm_sources)
    manifest_path, traj_path = out / MANIFEST, out / TRAJECTORIES
    manifest = read_manifest(manifest_path)
    existing = repair_and_read(traj_path)
    check_resume(config, manifest, bool(existing))
    if manifest and [s["name"] for s in manifest.get("servers", [])] != [s.name for s in sources]:
        raise SynthError(f"{out} was made from other servers ({[s['name'] for s in manifest.get('servers', [])]}, "
                         f"now {[s.name for s in sources]}); use another --out")
    out.mkdir(parents=True, exist_ok=True)
    done = {int(r["index"]) for r in existing if isinstance(r, dict) and "index" in r}
    prefix = f"synth-{uuid.uuid4().hex[:12]}"  # never reuse a live server's episode from an earlier run
    warnings: list[str] = []
    skipped: list[int] = []
    new = 0
    async with connect_all(sources, fast=config.fast_client) as servers:
        contexts = [ServerContext.build(s) for s in servers]
        counts = {c.server.name: ServerCounts(name=c.server.name, version=c.server.info.version, tools=len(c.tools))
                  for c in contexts}
        write_json_atomic(manifest_path, manifest_doc(config, contexts, len(existing), [], False, {}))
        # --n counts trajectories written: a skipped index (deterministic for a given seed) is made up for by the
        # next one, up to a bound, so resuming walks the same indices and writes the same lines.
        written, index, last_index = len(existing), 0, config.n * 3 + 10
        with traj_path.open("ab") as fh, _progress(config.progress) as progress:
            task = progress.add_task("", total=max(config.n - written, 0))
            while written < config.n and index < last_index:
                if index in done:
                    index += 1
                    continue
                ctx = contexts[index % len(contexts)]
                progress.update(task, description=ctx.server.name)
                outcome = await synthesize_index(ctx, config.seed, index, prefix, config.max_attempts)
                c = counts[ctx.server.name]
                c.attempts += outcome.attempts
                c.failed_calls += outcome.failed_calls
                c.bad_queries += outcome.bad_queries
                c.unverified += outcome.unverified
                if outcome.trajectory is not None:
                    append_line(fh, outcome.trajectory.to_line())
                    new += 1
                    written += 1
                    progress.advance(task)
                else:
                    c.skipped += 1
                    skipped.append(index)
                    if outcome.warning:
                        warnings.append(outcome.warning)
                index += 1
        if written < config.n:
            warnings.append(f"stopped at index {index}: {written} of {config.n} trajectories could be made")
        records = repair_and_read(traj_path)
        for r in records:
            c2 = counts.get(r.get("env", {}).get("name"))
            if c2 is not None:
                c2.trajectories += 1
                c2.calls += len(r.get("plan", []))
                checks = r.get("checks", {})
                ok = checks.get("replay_outputs_match") and checks.get("replay_state_match") is not False
                c2.verified += bool(ok)
        seconds = round(time.perf_counter() - started, 3)
        summary = SynthSummary(
            out=out, count=len(records), new=new, servers=list(counts.values()),
            attempts=sum(c.attempts for c in counts.values()),
            rejected={"failed_calls": sum(c.failed_calls for c in counts.values()),
                      "bad_queries": sum(c.bad_queries for c in counts.values()),
                      "unverified": sum(c.unverified for c in counts.values())},
            skipped=skipped, warnings=warnings, seconds=seconds,
        )
        stats = {"seconds": seconds, "new": new, "attempts": summary.attempts, "rejected": summary.rejected,
                 "per_server": [c.model_dump() for c in counts.values()], "warnings": warnings}
        write_json_atomic(manifest_path, manifest_doc(config, contexts, len(records), skipped, True, stats))
    return summary
