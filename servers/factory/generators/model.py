"""The model-driven generator: an LLM writes env.py, scenarios and checks; verification decides; failures go back.

One attempt = CODE request (env.py as a fenced python block) -> static policy (before anything is written or run)
-> DATA request (scenarios + checks, JSON mode) -> shape validation -> a complete environment directory in
`work_dir/attempt-<n>/<name>/` -> `averify_env` (static, then contract/behaviour/robustness/determinism in a fresh
child process and protocol over stdio: each attempt's files are loaded fresh, so a revision is really reloaded).
A failed attempt's concrete failures (check name and id, expected vs actual, env.py line of a traceback) and its
code go into the next attempt's prompts (see prompts.py), up to `max_attempts`. Only a directory whose
verification passed is copied to `out_dir/<name>/`.

Every stage is checkpointed under work_dir: `attempt-<n>/code.json` and `attempt-<n>/data.json` hold the model's
replies as soon as they arrive, `checkpoint.json` lists finished attempts with verdict, failures and usage. A call
with the same work_dir resumes after the last finished attempt (and reuses a stage already answered) without
asking the model again. An `LLMInfraError` (endpoint down, retries exhausted) stops the build and is reported as an
infrastructure failure: it never counts as an attempt against the environment.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from common.errors import EnvfactoryError
from common.llm import ChatModel, LLMInfraError, LLMReply, LLMReplyError, Usage
from registry.contract import sha256_text
from registry.spec import CheckSuite, EnvSpec, Scenario, VerificationReport
from servers.factory import envwriter
from servers.factory.apimodel import ApiModel
from servers.factory.envwriter import ProbeError, ProbeTimeout
from servers.factory.generators import prompts
from servers.verify.verifier import averify_env, static_problems

__all__ = ["AttemptRecord", "ModelBuildResult", "extract_python", "generate_with_model"]

CHECKPOINT = "checkpoint.json"
CHECKPOINT_VERSION = 1
SCENARIO_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MIN_SCENARIOS = 3
PROBE_TIMEOUT = 20.0
"""Seconds for the child that imports env.py to read State.model_json_schema() (also catches import-time hangs)."""
CODE_MAX_TOKENS: int | None = None
DATA_MAX_TOKENS: int | None = None
"""None: the client's `LLMSettings.max_tokens`, else the endpoint's default (vLLM: the rest of the context). A fixed
budget here would make a small-context model refuse every request with HTTP 400."""

Verdict = Literal["passed", "failed", "refused"]


class AttemptRecord(BaseModel):
    """A finished attempt. `refused`: never ran (no code in the reply, static policy, unusable scenarios/checks)."""

    n: int
    verdict: Verdict
    failures: list[str] = Field(default_factory=list)
    summary: str = ""
    usage: Usage = Field(default_factory=Usage)
    env_dir: str | None = Field(None, description="The attempt's environment directory, relative to work_dir.")
    seconds: float = 0.0


class ModelBuildResult(BaseModel):
    name: str
    model: str
    passed: bool
    attempts: int = Field(description="Attempts finished (resumed ones included); infra failures are not attempts.")
    max_attempts: int
    report: VerificationReport | None = Field(None, description="The last verification report (the passing one).")
    usage: Usage = Field(default_factory=Usage, description="Whole build, resumed attempts included.")
    failures: list[list[str]] = Field(default_factory=list, description="Failures of attempt 1, 2, ...")
    records: list[AttemptRecord] = Field(default_factory=list)
    infra_error: str | None = Field(None, description="Set when the endpoint failed: an infrastructure failure.")
    resumed: int = Field(0, description="Attempts taken from the checkpoint instead of asking the model again.")
    admitted: Path | None = Field(None, description="out_dir/<name> when passed.")
    reason: str = ""


class _Checkpoint(BaseModel):
    version: int = CHECKPOINT_VERSION
    api: str
    api_sha256: str
    model: str
    attempts: list[AttemptRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage, description="Everything spent so far, failed requests included.")


class _Stage(BaseModel):
    """One answered request of an attempt, saved as soon as the reply arrives."""

    reply: str = ""
    problems: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    code: str | None = None
    data: dict[str, Any] | None = None


class _Stop(EnvfactoryError):
    """An infrastructure failure: the build stops here."""


# --- parsing the model's replies --------------------------------------------------------------------------------

_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


def extract_python(text: str) -> tuple[str | None, str]:
    """(code, problem): the first ```python block (else the first fenced block that parses as Python and defines
    State, else the whole reply if it does), or None and why the reply was refused."""
    blocks = [(lang.lower(), body) for lang, body in _BLOCK.findall(text)]
    for lang, body in blocks:
        if lang in ("python", "py", "python3"):
            return body.strip("\n") + "\n", ""
    for lang, body in blocks:
        if lang == "" and _looks_like_env(body):
            return body.strip("\n") + "\n", ""
    if not blocks and _looks_like_env(text):
        return text.strip("\n") + "\n", ""
    seen = " ".join(text.split())[:120] or "(empty)"
    kind = "fenced blocks but none in Python" if blocks else "prose"
    return None, (f"reply refused: expected env.py as one fenced ```python block, got {kind} "
                  f"(reply began: {seen!r})")


def _looks_like_env(text: str) -> bool:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(n, ast.ClassDef) and n.name == "State" for n in tree.body)


def validate_data(data: Any, api: ApiModel) -> list[str]:
    """Problems with a {"scenarios": [...], "checks": [...]} reply, before anything is written."""
    if not isinstance(data, dict):
        return [f"scenarios/checks reply must be a JSON object, got {type(data).__name__}"]
    problems: list[str] = []
    raw_scenarios = data.get("scenarios")
    names: list[str] = []
    if not isinstance(raw_scenarios, list):
        problems.append('"scenarios" must be a list of {"name", "description", "state"} objects')
    else:
        for i, raw in enumerate(raw_scenarios):
            try:
                scenario = Scenario.model_validate(raw)
            except ValidationError as exc:
                problems.append(f"scenarios[{i}]: {_pydantic_problem(exc)}")
                continue
            if not SCENARIO_NAME.fullmatch(scenario.name):
                problems.append(f"scenarios[{i}]: name {scenario.name!r} must match {SCENARIO_NAME.pattern}")
            elif scenario.name in names:
                problems.append(f"scenarios[{i}]: duplicate scenario name {scenario.name!r}")
            names.append(scenario.name)
        if len(raw_scenarios) < MIN_SCENARIOS:
            problems.append(f"{len(raw_scenarios)} scenarios, need at least {MIN_SCENARIOS} (small, typical, edge)")
    try:
        suite = CheckSuite.model_validate({"checks": data.get("checks")})
    except ValidationError as exc:
        problems.append(f"checks: {_pydantic_problem(exc)}")
    else:
        tools = {op.tool for op in api.operations}
        ids: set[str] = set()
        for check in suite.checks:
            if check.id in ids:
                problems.append(f"check {check.id!r}: duplicate id")
            ids.add(check.id)
            if names and check.scenario not in names:
                problems.append(f"check {check.id!r}: unknown scenario {check.scenario!r} (have {', '.join(names)})")
            for i, call in enumerate(check.calls):
                if call.tool not in tools:
                    problems.append(f"check {check.id!r}: call {i} names unknown tool {call.tool!r}")
    extra = sorted(set(data) - {"scenarios", "checks"})
    if extra:
        problems.append(f"unexpected top-level keys: {', '.join(extra)}")
    return problems


def _pydantic_problem(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts) + ("" if exc.error_count() <= 3 else f" (+{exc.error_count() - 3} more)")


def report_failures(report: VerificationReport) -> list[str]:
    """The concrete failures of a report, one line each, prefixed by the check name; skipped checks summarised."""
    lines: list[str] = []
    skipped: list[str] = []
    for check in report.checks:
        if check.passed:
            continue
        if check.summary.startswith("skipped:"):
            skipped.append(check.name)
            continue
        lines += [f"[{check.name}] {failure}" for failure in (check.failures or [check.summary])]
    if skipped:
        lines.append(f"not run because of the above: {', '.join(skipped)}")
    return lines


# --- writing an attempt ---------------------------------------------------------------------------------------

def _write_env(path: Path, api: ApiModel, model: str, attempt: int, code: str, data: dict[str, Any]) -> EnvSpec:
    """The attempt's environment directory (State schema still {}); returns the spec written to env.json."""
    scenarios = [Scenario.model_validate(raw) for raw in data["scenarios"]]
    suite = CheckSuite.model_validate({"checks": data["checks"]})
    spec = envwriter.env_spec(
        api, generator="model", model=model, attempts=attempt, tools=[op.tool_spec() for op in api.operations],
        scenarios=[s.name for s in scenarios], version=api.version,
        description=(api.description or api.title).strip() or api.name)
    envwriter.write_env_dir(path, code=code, scenarios=scenarios, spec=spec,
                            checks=suite.model_dump(mode="json", exclude_defaults=True)["checks"])
    return spec


def _probe_state_schema(path: Path, spec: EnvSpec) -> str | None:
    """Record State.model_json_schema() of the attempt in env.json, computed in a limited child (env.py is untrusted).

    Returns None, having recorded the schema, or left it {} when the module does not load (verification reports
    why); or the problem when importing it hangs.
    """
    try:
        found = envwriter.probe_state(path, PROBE_TIMEOUT)
    except ProbeTimeout:
        return (f"[contract] env.py did not finish importing within {PROBE_TIMEOUT:g} s "
                "(a loop at module level?)")
    except ProbeError:
        return None
    envwriter.set_state_schema(path, spec, found.schema)
    return None


# --- the build --------------------------------------------------------------------------------------------------

def _api_hash(api: ApiModel) -> str:
    return sha256_text(json.dumps(api.model_dump(mode="json"), sort_keys=True))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _usage_delta(before: Usage, after: Usage) -> Usage:
    return Usage(**{k: getattr(after, k) - getattr(before, k) for k in Usage.model_fields})


class _Build:
    def __init__(self, api: ApiModel, out_dir: Path, llm: ChatModel, work_dir: Path, max_attempts: int):
        self.api, self.out_dir, self.llm, self.work_dir, self.max_attempts = api, out_dir, llm, work_dir, max_attempts
        self.checkpoint = self._load_checkpoint()
        self.resumed = len(self.checkpoint.attempts)

    # -- checkpoint ---------------------------------------------------------------------------------------------
    def _load_checkpoint(self) -> _Checkpoint:
        path = self.work_dir / CHECKPOINT
        fresh = _Checkpoint(api=self.api.name, api_sha256=_api_hash(self.api), model=self.llm.model)
        if not path.is_file():
            return fresh
        try:
            saved = _Checkpoint.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            raise ValueError(f"{path}: unreadable checkpoint ({exc.__class__.__name__}); use a fresh work_dir"
                             ) from exc
        if saved.api_sha256 != fresh.api_sha256:
            raise ValueError(f"{path}: checkpoint belongs to a different API input ({saved.api}); "
                             "use a fresh work_dir")
        return saved

    def _save_checkpoint(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.work_dir / CHECKPOINT, self.checkpoint.model_dump_json(indent=2) + "\n")

    def _attempt_dir(self, n: int) -> Path:
        return self.work_dir / f"attempt-{n}"

    def _load_stage(self, n: int, stage: str) -> _Stage | None:
        path = self._attempt_dir(n) / f"{stage}.json"
        try:
            return _Stage.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError):
            return None

    def _save_stage(self, n: int, stage: str, value: _Stage) -> None:
        directory = self._attempt_dir(n)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(directory / f"{stage}.json", value.model_dump_json(indent=1) + "\n")

    # -- history of earlier attempts (what the revise prompts carry) --------------------------------------------
    def _latest(self, field: str, before: int) -> tuple[int, Any]:
        for n in range(before - 1, 0, -1):
            stage = self._load_stage(n, "code" if field == "code" else "data")
            value = getattr(stage, field, None) if stage else None
            if value is not None:
                return n, value
        return 0, None

    # -- asking the model ---------------------------------------------------------------------------------------
    async def _ask(self, messages: list[dict[str, str]], *, json_mode: bool, max_tokens: int | None
                   ) -> tuple[LLMReply | None, Usage, str | None]:
        """(reply, usage, reply_problem); the usage is added to the checkpoint's total at once, so a resumed
        build still counts requests that failed. Raises _Stop on an infrastructure failure."""
        before = self.llm.usage.model_copy()
        try:
            reply = await self.llm.chat(messages, json_mode=json_mode, max_tokens=max_tokens)
        except LLMInfraError as exc:
            self._spent(_usage_delta(before, self.llm.usage))
            raise _Stop(str(exc)) from exc
        except LLMReplyError as exc:
            usage = self._spent(_usage_delta(before, self.llm.usage))
            return None, usage, f"scenarios/checks reply refused: {exc}"
        return reply, self._spent(reply.usage), None

    def _spent(self, usage: Usage) -> Usage:
        self.checkpoint.usage.add(usage)
        self._save_checkpoint()
        return usage

    async def _code_stage(self, n: int) -> _Stage:
        saved = self._load_stage(n, "code")
        if saved is not None:
            return saved
        prev_n, prev_code = self._latest("code", n)
        _, prev_data = self._latest("data", n)
        last = self.checkpoint.attempts[-1] if self.checkpoint.attempts else None
        if last is None:
            messages = prompts.code_messages(self.api)
        else:
            messages = prompts.revise_code_messages(self.api, last.n, prev_code if prev_n else None, prev_data,
                                                    last.failures)
        reply, usage, _ = await self._ask(messages, json_mode=False, max_tokens=CODE_MAX_TOKENS)
        assert reply is not None  # text mode has no reply error
        code, problem = extract_python(reply.text)
        problems = [problem] if code is None else [f"[static] {p}" for p in static_problems(code, "env.py")]
        if problems and reply.finish_reason == "length":
            problems.insert(0, "the reply was cut off at the completion token limit: write shorter code "
                               "(fewer comments, shared helpers)")
        stage = _Stage(reply=reply.text, code=code, problems=problems, usage=usage)
        self._save_stage(n, "code", stage)
        return stage

    async def _data_stage(self, n: int, code: str) -> _Stage:
        saved = self._load_stage(n, "data")
        if saved is not None:
            return saved
        _, prev_data = self._latest("data", n)
        last = self.checkpoint.attempts[-1] if self.checkpoint.attempts else None
        if last is None or prev_data is None:
            messages = prompts.data_messages(self.api, code)
        else:
            messages = prompts.revise_data_messages(self.api, last.n, code, prev_data, last.failures)
        reply, usage, problem = await self._ask(messages, json_mode=True, max_tokens=DATA_MAX_TOKENS)
        if reply is None:
            stage = _Stage(problems=[problem or "no reply"], usage=usage)
        else:
            data = reply.data
            if data == prompts.KEEP and prev_data is not None:
                data = prev_data
            problems = [f"[scenarios/checks] {p}" for p in validate_data(data, self.api)]
            stage = _Stage(reply=reply.text, data=data if not problems else None, problems=problems, usage=usage)
        self._save_stage(n, "data", stage)
        return stage

    # -- one attempt --------------------------------------------------------------------------------------------
    async def _attempt(self, n: int) -> tuple[AttemptRecord, VerificationReport | None]:
        start = time.monotonic()
        usage = Usage()
        code_stage = await self._code_stage(n)
        usage.add(code_stage.usage)
        if code_stage.problems or code_stage.code is None:
            return AttemptRecord(n=n, verdict="refused", failures=code_stage.problems, usage=usage,
                                 summary="env.py refused before running",
                                 seconds=round(time.monotonic() - start, 3)), None
        data_stage = await self._data_stage(n, code_stage.code)
        usage.add(data_stage.usage)
        if data_stage.problems or data_stage.data is None:
            return AttemptRecord(n=n, verdict="refused", failures=data_stage.problems, usage=usage,
                                 summary="scenarios/checks refused before running",
                                 seconds=round(time.monotonic() - start, 3)), None
        env_path = self._attempt_dir(n) / self.api.name
        spec = _write_env(env_path, self.api, self.llm.model, n, code_stage.code, data_stage.data)
        hang = _probe_state_schema(env_path, spec)
        if hang:
            return AttemptRecord(n=n, verdict="failed", failures=[hang], usage=usage, summary=hang,
                                 env_dir=str(env_path.relative_to(self.work_dir)),
                                 seconds=round(time.monotonic() - start, 3)), None
        report = await averify_env(env_path, write_report=True)
        return AttemptRecord(n=n, verdict="passed" if report.passed else "failed",
                             failures=[] if report.passed else report_failures(report), usage=usage,
                             summary=report.summary, env_dir=str(env_path.relative_to(self.work_dir)),
                             seconds=round(time.monotonic() - start, 3)), report

    # -- the loop -----------------------------------------------------------------------------------------------
    async def run(self) -> ModelBuildResult:
        self._save_checkpoint()
        infra: str | None = None
        report = self._saved_report()
        while not self._passed() and len(self.checkpoint.attempts) < self.max_attempts:
            n = len(self.checkpoint.attempts) + 1
            try:
                record, attempt_report = await self._attempt(n)
            except _Stop as exc:
                infra = str(exc)
                break
            report = attempt_report or report
            self.checkpoint.attempts.append(record)
            self._save_checkpoint()
        return self._result(report, infra)

    def _passed(self) -> AttemptRecord | None:
        return next((a for a in self.checkpoint.attempts if a.verdict == "passed"), None)

    def _saved_report(self) -> VerificationReport | None:
        for record in reversed(self.checkpoint.attempts):
            if record.env_dir:
                path = self.work_dir / record.env_dir / "report.json"
                try:
                    return VerificationReport.model_validate_json(path.read_text(encoding="utf-8"))
                except (OSError, ValidationError):
                    return None
        return None

    def _admit(self, record: AttemptRecord) -> Path:
        assert record.env_dir is not None
        source = self.work_dir / record.env_dir
        target = self.out_dir / self.api.name
        if target.exists():
            shutil.rmtree(target)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return target

    def _result(self, report: VerificationReport | None, infra: str | None) -> ModelBuildResult:
        attempts = self.checkpoint.attempts
        passed = self._passed()
        admitted = self._admit(passed) if passed else None
        if passed:
            reason = f"passed on attempt {passed.n} of {self.max_attempts}"
        elif infra:
            reason = f"infrastructure failure after {len(attempts)} finished attempt(s): {infra}"
        elif attempts:
            last = attempts[-1]
            first = last.failures[0] if last.failures else last.summary
            reason = f"no passing attempt in {len(attempts)}; attempt {last.n} {last.verdict}: {first}"
        else:
            reason = "no attempt was made (max_attempts is 0)"
        return ModelBuildResult(
            name=self.api.name, model=self.llm.model, passed=passed is not None, attempts=len(attempts),
            max_attempts=self.max_attempts, report=report, usage=self.checkpoint.usage.model_copy(),
            failures=[a.failures for a in attempts],
            records=list(attempts), infra_error=infra, resumed=self.resumed, admitted=admitted, reason=reason)


async def generate_with_model(api: ApiModel, out_dir: Path, llm: ChatModel, *, work_dir: Path,
                              max_attempts: int = 3) -> ModelBuildResult:
    """Generate, verify and revise the environment for `api` until it passes or `max_attempts` are used.

    `llm` is an `LLMClient` or an `OfflineLLM`. The passing attempt's directory is copied to `out_dir/<api.name>/`;
    nothing is written to out_dir otherwise. Resumable: a second call with the same `work_dir` continues after the
    last finished attempt. Raises ValueError only when work_dir holds a checkpoint of a different API.
    """
    if max_attempts < 0:
        raise ValueError("max_attempts must be >= 0")
    build = _Build(api, Path(out_dir), llm, Path(work_dir), max_attempts)
    return await build.run()
