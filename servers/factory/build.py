"""`envfactory build`: authentic API descriptions in, verified environments admitted to the registry.

Each source goes through four stages, each checkpointed under `<out>/<name>/checkpoint.json` so `--resume` skips
what finished: import (-> apimodel.json), generate (offline, or a model with a revise loop), verify (the six checks,
generated code running only in child processes), admit (copy into the registry). Nothing enters the registry unless
its verification passed; a failed build keeps its report and artifacts under `<out>/<name>/` for inspection.
Rebuilding an input whose sha256 matches the admitted environment's provenance is a no-op unless `--force`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from common.errors import EnvfactoryError
from common.llm import LLMClient, LLMInfraError, LLMSettings
from registry.envdir import EnvLoadError, admission_root, load_env_dir
from registry.spec import VerificationReport
from servers.factory.apimodel import ApiModel
from servers.factory.generators.model import generate_with_model
from servers.factory.generators.offline import GenerationError, generate_offline
from servers.factory.importers import ImportFailure, import_source
from servers.factory.importers.description import PREFIX, import_description
from servers.verify.verifier import averify_env

Stage = Literal["import", "generate", "verify", "admit"]
STAGES: tuple[Stage, ...] = ("import", "generate", "verify", "admit")


class BuildError(EnvfactoryError):
    """A build that cannot proceed for a reason the user must fix (one line)."""


class BuildOptions(BaseModel):
    out: Path = Path("build")
    registry: Path | None = None
    offline: bool = True
    model: str | None = None
    base_url: str | None = None
    jobs: int = 2
    resume: bool = False
    force: bool = False
    max_attempts: int = 3


class StageRecord(BaseModel):
    done: bool = False
    seconds: float = 0.0
    detail: dict[str, Any] = Field(default_factory=dict)


class Checkpoint(BaseModel):
    source: str
    source_sha256: str
    generator: str
    stages: dict[str, StageRecord] = Field(default_factory=dict)

    def stage(self, name: Stage) -> StageRecord:
        return self.stages.setdefault(name, StageRecord())


class BuildResult(BaseModel):
    source: str
    name: str = ""
    verdict: Literal["admitted", "unchanged", "failed", "error"] = "error"
    reason: str = ""
    tools: int = 0
    scenarios: int = 0
    checks: int = 0
    seconds: float = 0.0
    tokens: int = 0
    attempts: int = 0
    stage_seconds: dict[str, float] = Field(default_factory=dict)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a killed build never leaves half a checkpoint


def failure_reason(report: VerificationReport, limit: int = 3) -> str:
    """The first concrete failures of a report, for one summary line."""
    parts = []
    for check in report.checks:
        if not check.passed:
            first = "; ".join(check.failures[:limit]) or check.summary
            parts.append(f"{check.name}: {first}")
    return " | ".join(parts)[:600]


class Builder:
    """Runs the stages for each source; `progress(name, stage)` is told what each build is doing."""

    def __init__(self, options: BuildOptions, progress: Callable[[str, str], None] | None = None):
        self.options = options
        self.registry = admission_root(options.registry)  # the workspace, never the built-ins
        self.progress = progress or (lambda name, stage: None)
        self.generator = "offline" if options.offline else "model"
        self._client: LLMClient | None = None

    def _llm(self) -> LLMClient:
        """The one LLM client of this build (settings from ENVFACTORY_LLM_*, overridden by --model/--base-url)."""
        if self._client is None:
            overrides = {k: v for k, v in {"model": self.options.model, "base_url": self.options.base_url}.items() if v}
            self._client = LLMClient(LLMSettings.from_env().model_copy(update=overrides))
        return self._client

    async def build_all(self, sources: list[str]) -> list[BuildResult]:
        sem = asyncio.Semaphore(max(1, self.options.jobs))

        async def one(source: str) -> BuildResult:
            async with sem:
                return await self.build(source)

        return list(await asyncio.gather(*(one(s) for s in sources)))

    async def build(self, source: str) -> BuildResult:
        started = time.monotonic()
        result = BuildResult(source=source)
        try:
            await self._build(source, result)
        except BuildError as exc:
            result.verdict, result.reason = "error", str(exc)
        except Exception as exc:  # an unexpected failure fails this build, never the others
            result.verdict, result.reason = "error", f"{type(exc).__name__}: {exc}"
        result.seconds = round(time.monotonic() - started, 2)
        self.progress(result.name or source, result.verdict)
        return result

    def _checkpoint(self, workdir: Path, source: str, digest: str) -> Checkpoint:
        path = workdir / "checkpoint.json"
        if self.options.resume and path.exists():
            try:
                cp = Checkpoint.model_validate_json(path.read_text(encoding="utf-8"))
                if cp.source_sha256 == digest and cp.generator == self.generator:
                    return cp
            except ValueError:
                pass
        return Checkpoint(source=source, source_sha256=digest, generator=self.generator)

    def _save(self, workdir: Path, cp: Checkpoint) -> None:
        _write_json(workdir / "checkpoint.json", cp.model_dump(mode="json"))

    async def _build(self, source: str, result: BuildResult) -> None:
        path = Path(source)
        described = source.startswith(PREFIX)
        if not described and not source.startswith(("mcp+stdio:", "http://", "https://")) and not path.is_file():
            raise BuildError(f"{source}: file not found")

        # import (cheap, and it names the environment; a checkpointed model is reused on --resume)
        self.progress(source, "import")
        t = time.monotonic()
        try:
            if described:
                if self.options.offline:
                    raise BuildError(f"{source[:60]}: a description needs a model (--model)")
                api = await import_description(source, self._llm())
            else:
                api = await asyncio.to_thread(import_source, source)
        except ImportFailure as exc:
            raise BuildError(str(exc)) from None
        except LLMInfraError as exc:
            raise BuildError(f"{source[:60]}: model unavailable: {exc}") from None
        digest = api.source_sha256 or (sha256_file(path) if path.is_file() else
                                       hashlib.sha256(source.encode()).hexdigest())
        result.name = api.name
        workdir = (self.options.out / api.name).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        cp = self._checkpoint(workdir, source, digest)
        stage = cp.stage("import")
        if not stage.done:
            _write_json(workdir / "apimodel.json", api.model_dump(mode="json", by_alias=True))
            stage.done, stage.seconds = True, round(time.monotonic() - t, 3)
            stage.detail = {"operations": len(api.operations), "dropped": len(api.dropped)}
            self._save(workdir, cp)
        else:
            api = ApiModel.model_validate_json((workdir / "apimodel.json").read_text(encoding="utf-8"))
        result.tools = len(api.operations)

        if not self.options.force and self._unchanged(api.name, digest):
            result.verdict, result.reason = "unchanged", "already admitted from this exact input (use --force)"
            self._fill_counts(self.registry / api.name, result)
            return

        candidate = workdir / "env" / api.name
        await self._generate(api, workdir, candidate, cp, result)
        report = await self._verify(candidate, workdir, cp, result)
        self._fill_counts(candidate, result)
        result.stage_seconds = {name: rec.seconds for name, rec in cp.stages.items()}
        if not report.passed:
            result.verdict, result.reason = "failed", failure_reason(report)
            return
        self._admit(candidate, api.name, workdir, cp)
        result.stage_seconds = {name: rec.seconds for name, rec in cp.stages.items()}
        result.verdict = "admitted"

    def _unchanged(self, name: str, digest: str) -> bool:
        target = self.registry / name
        try:
            env = load_env_dir(target)
        except EnvLoadError:
            return False
        prov = env.spec.provenance
        return prov.source_sha256 == digest and prov.generator == self.generator and env.is_verified()

    async def _generate(self, api: ApiModel, workdir: Path, candidate: Path, cp: Checkpoint,
                        result: BuildResult) -> None:
        stage = cp.stage("generate")
        if stage.done and (candidate / "env.json").exists():
            result.tokens = int(stage.detail.get("tokens", 0))
            result.attempts = int(stage.detail.get("attempts", 1))
            return
        self.progress(api.name, "generate")
        t = time.monotonic()
        if candidate.exists():
            shutil.rmtree(candidate)
        candidate.parent.mkdir(parents=True, exist_ok=True)
        if self.options.offline:
            try:
                await asyncio.to_thread(generate_offline, api, candidate.parent)
            except GenerationError as exc:
                raise BuildError(f"{api.name}: offline generation failed: {exc}") from None
            stage.detail = {"attempts": 1, "tokens": 0}
        else:
            stage.detail = await self._generate_with_model(api, workdir, candidate)
        result.tokens = int(stage.detail.get("tokens", 0))
        result.attempts = int(stage.detail.get("attempts", 1))
        stage.done, stage.seconds = True, round(time.monotonic() - t, 3)
        cp.stage("verify").done = False  # new code: verification must run again
        self._save(workdir, cp)

    async def _generate_with_model(self, api: ApiModel, workdir: Path, candidate: Path) -> dict[str, Any]:
        try:
            outcome = await generate_with_model(api, candidate.parent, self._llm(),
                                                work_dir=workdir / "model", max_attempts=self.options.max_attempts)
        except LLMInfraError as exc:
            raise BuildError(f"{api.name}: model unavailable: {exc}") from None
        if outcome.infra_error:
            raise BuildError(f"{api.name}: model unavailable: {outcome.infra_error}")
        tokens = outcome.usage.total_tokens
        if not outcome.passed or not (candidate / "env.json").exists():
            last = workdir / "model"
            raise BuildError(f"{api.name}: no attempt passed verification in {outcome.attempts} attempt(s); "
                             f"see {last}")
        return {"attempts": outcome.attempts, "tokens": tokens}

    async def _verify(self, candidate: Path, workdir: Path, cp: Checkpoint, result: BuildResult) -> VerificationReport:
        stage = cp.stage("verify")
        report_path = candidate / "report.json"
        if stage.done and report_path.exists():
            return VerificationReport.model_validate_json(report_path.read_text(encoding="utf-8"))
        self.progress(result.name, "verify")
        t = time.monotonic()
        report = await averify_env(candidate, write_report=True)
        shutil.copy2(report_path, workdir / "report.json")
        stage.done, stage.seconds = True, round(time.monotonic() - t, 3)
        stage.detail = {"passed": report.passed, "summary": report.summary}
        self._save(workdir, cp)
        return report

    def _admit(self, candidate: Path, name: str, workdir: Path, cp: Checkpoint) -> None:
        stage = cp.stage("admit")
        t = time.monotonic()
        target = self.registry / name
        staging = self.registry / f".{name}.incoming"
        if staging.exists():
            shutil.rmtree(staging)
        shutil.copytree(candidate, staging, ignore=shutil.ignore_patterns("__pycache__"))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # the catalog never sees half an environment
        if not load_env_dir(target).is_verified():
            raise BuildError(f"{name}: admitted copy does not match its report (files changed while copying)")
        stage.done, stage.seconds = True, round(time.monotonic() - t, 3)
        self._save(workdir, cp)

    @staticmethod
    def _fill_counts(env_path: Path, result: BuildResult) -> None:
        try:
            env = load_env_dir(env_path)
            result.tools = len(env.spec.tools)
            result.scenarios = len(env.spec.scenarios)
            result.checks = len(env.checks().checks)
        except EnvLoadError:
            pass
