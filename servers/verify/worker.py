"""The checks that execute environment code: contract, behaviour, robustness, determinism.

Runs as a child process (`python -m servers.verify.worker <env_dir>`) under resource limits, because env.py may be
untrusted generated code: a crash, a hang or a memory blow-up here costs the verifier one child, never itself.
Prints one JSON document on stdout: the list of CheckResult dicts, in CHECK_ORDER minus static and protocol.
"""

from __future__ import annotations

import json
import logging
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ValidationError

from registry.contract import canonical_json
from registry.envdir import EnvDir, EnvLoadError, load_env_dir, parse_model
from registry.spec import Check, CheckResult, CheckSuite
from servers.runtime.runtime import CallOutcome, EnvRuntime, Episode
from servers.runtime.sandbox import apply_limits, load_guarded
from servers.verify.checks import CheckRun, check_coverage, run_check
from servers.verify.common import PROTOCOL_REPLAY_CHECKS, first_difference, result, short, skipped
from servers.verify.fuzz import Fuzzer, violating_cases

CALL_TIMEOUT = 2.0
"""Per-call limit in the worker: real tools take microseconds, so 2 s only ever catches a loop."""
FUZZ_CALLS_PER_TOOL = 20
FUZZ_SEED = 0
MIN_SCENARIOS = 3


# --- a runtime that remembers why calls failed ------------------------------------------------------------------

class VerifyRuntime(EnvRuntime):
    """EnvRuntime that records the cause of each internal error and any State change made by a read-only tool."""

    def __init__(self, env_dir: EnvDir, module: ModuleType):
        super().__init__(env_dir, module, call_timeout=CALL_TIMEOUT)
        self.causes: list[str] = []
        self.timeouts: list[str] = []  # causes of calls the time limit interrupted, kept apart from crashes
        self.read_only_violations: list[str] = []

    def call(self, episode: Episode, tool: str, arguments: dict[str, Any] | None) -> CallOutcome:
        read_only = tool in self.tools and self.tools[tool].annotations.read_only_hint
        before = episode.state_hash if read_only else ""
        outcome = super().call(episode, tool, arguments)
        if outcome.internal:
            (self.timeouts if outcome.timed_out else self.causes).append(f"{tool}: {outcome.detail or outcome.error}")
        if read_only and episode.state_hash != before:
            self.read_only_violations.append(
                f"{tool} is annotated readOnlyHint but changed the State (arguments {short(arguments, 120)})")
        return outcome

    def take_causes(self, timeouts: bool = True) -> list[str]:
        """The causes recorded since the last take, in call order; without the timeouts when `timeouts` is False."""
        causes = self.causes + self.timeouts if timeouts else self.causes
        self.causes, self.timeouts = [], []
        return causes


# --- contract ---------------------------------------------------------------------------------------------------

def contract_check(path: Path) -> tuple[CheckResult, VerifyRuntime | None, list[Check] | None]:
    """Load everything and compare the code with env.json; returns the runtime and checks for the later checks."""
    start = time.monotonic()
    failures: list[str] = []
    details: dict[str, Any] = {}
    try:
        env_dir = load_env_dir(path)
    except EnvLoadError as exc:
        return result("contract", [str(exc)], time.monotonic() - start, ""), None, None
    spec = env_dir.spec
    details.update(tools=len(spec.tools), scenarios=len(spec.scenarios))
    runtime: VerifyRuntime | None = None
    logging.getLogger("envfactory.runtime").disabled = True  # causes travel in CallOutcome.detail instead
    try:
        module = load_guarded(env_dir, f"envfactory_verify_{env_dir.name}")
        runtime = VerifyRuntime(env_dir, module)
    except EnvLoadError as exc:
        failures.append(str(exc).replace(str(env_dir.code_path), "env.py"))
    except Exception as exc:
        failures.append(f"env.py: cannot build the runtime: {type(exc).__name__}: {exc}")
    for tool in spec.tools:
        for which, schema in (("input_schema", tool.input_schema), ("output_schema", tool.output_schema)):
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                failures.append(f"{tool.name}: {which} is not a valid JSON Schema: {short(exc.message, 160)}")
    if len(spec.scenarios) < MIN_SCENARIOS:
        failures.append(f"env.json: {len(spec.scenarios)} scenarios, need at least {MIN_SCENARIOS} "
                        "(small, typical, edge)")
    checks: list[Check] | None = None
    try:
        checks = parse_model(CheckSuite, env_dir.path / "checks.json").checks
        details["checks"] = len(checks)
    except EnvLoadError as exc:
        failures.append(str(exc).replace(str(env_dir.path) + "/", ""))
    if runtime is not None:
        failures += runtime.signature_problems()
        for name in spec.scenarios:
            try:
                runtime.scenario_state(name)
            except EnvLoadError as exc:
                failures.append(f"scenarios/{name}.json: {exc}")
        try:
            actual_schema = runtime.state_cls.model_json_schema()
        except Exception as exc:
            failures.append(f"State.model_json_schema() failed: {type(exc).__name__}: {exc}")
        else:
            if not spec.state_schema:
                details["state_schema"] = "not declared in env.json"
            else:
                diff = first_difference(spec.state_schema, actual_schema)
                details["state_schema"] = "matches State" if diff is None else "differs"
                if diff:
                    failures.append(f"env.json state_schema differs from State.model_json_schema() at {diff}")
        if checks is not None:
            failures += [f"checks.json coverage: {p}" for p in check_coverage(runtime, checks)]
    summary = (f"{len(spec.tools)} tools match their functions, {len(spec.scenarios)} scenarios load, "
               f"{details.get('checks', 0)} checks cover every tool")
    return result("contract", failures, time.monotonic() - start, summary, details), runtime, checks


# --- behaviour --------------------------------------------------------------------------------------------------

def _call_record(outcome: CallOutcome) -> dict[str, Any]:
    return {"is_error": outcome.is_error, "output": outcome.output, "error": outcome.error}


def behaviour_check(runtime: VerifyRuntime, checks: list[Check]) -> tuple[CheckResult, list[CheckRun]]:
    """Every check of checks.json passes; read-only tools leave the State alone."""
    start = time.monotonic()
    failures: list[str] = []
    runs: list[CheckRun] = []
    runtime.read_only_violations.clear()
    for check in checks:
        run = _guarded_run(runtime, check, "behaviour")
        runs.append(run)
        failures += [f"{check.id}: {f}" for f in run.failures]
        failures += [f"{check.id}: cause: {c}" for c in runtime.take_causes(timeouts=False)]
        failures += [f"{check.id}: {v}" for v in runtime.read_only_violations]
        runtime.read_only_violations.clear()
    calls = sum(len(r.outcomes) for r in runs)
    details = {
        "checks": len(checks), "passed": sum(r.passed for r in runs), "calls": calls,
        "state_hashes": {r.id: r.state_hash for r in runs},
        "replay": [{"id": r.id, "calls": [_call_record(o) for o in r.outcomes], "state_hash": r.state_hash}
                   for r in runs[:PROTOCOL_REPLAY_CHECKS]],
    }
    summary = f"{len(checks)} checks passed ({calls} calls)"
    return result("behaviour", failures, time.monotonic() - start, summary, details), runs


def _guarded_run(runtime: EnvRuntime, check: Check, prefix: str) -> CheckRun:
    """run_check, with a broken scenario or an unexpected verifier-side exception turned into a failed run."""
    try:
        return run_check(runtime, check, episode_id=prefix)
    except EnvLoadError as exc:
        return CheckRun(id=check.id, passed=False, failures=[str(exc)])
    except Exception as exc:
        return CheckRun(id=check.id, passed=False, failures=[f"check crashed: {type(exc).__name__}: {exc}"])


# --- robustness -------------------------------------------------------------------------------------------------

def _timed_out(outcome: dict[str, Any]) -> bool:
    return bool(outcome.get("timed_out"))


def fuzz_transcript(runtime: VerifyRuntime, previous: list[dict[str, Any]] | None = None
                    ) -> tuple[list[dict[str, Any]], list[str]]:
    """The seeded fuzz sequence: on a fresh episode of each scenario, rounds of calls to every tool.

    Returns the transcript (what determinism compares) and the robustness failures (internal errors, timeouts).
    A tool that times out is not called again, so a looping tool costs one timeout per run, not one per call;
    with `previous` (a replay), a call that timed out there is not run again either: its outcome is reused.
    """
    spec = runtime.spec
    rng = random.Random(FUZZ_SEED)
    rounds = max(1, math.ceil(FUZZ_CALLS_PER_TOOL / max(1, len(spec.scenarios))))
    transcript: list[dict[str, Any]] = []
    failures: list[str] = []
    internal_count: dict[str, int] = {}
    timed_out: set[str] = set()
    for scenario in spec.scenarios:
        try:
            episode = runtime.new_episode(f"fuzz:{scenario}", scenario)
        except EnvLoadError as exc:
            failures.append(f"fuzz: {exc}")
            continue
        fuzzer = Fuzzer(rng)
        fuzzer.learn(episode.state.model_dump(mode="json"))
        for _ in range(rounds):
            for tool in spec.tools:
                if tool.name in timed_out:
                    continue
                args = fuzzer.arguments(tool.input_schema)
                index = len(transcript)
                before = previous[index] if previous is not None and index < len(previous) else None
                if before and _timed_out(before["outcome"]) and before["arguments"] == args:
                    outcome = CallOutcome.model_validate(before["outcome"])
                else:
                    outcome = runtime.call(episode, tool.name, args)
                if outcome.output:
                    fuzzer.learn(outcome.output)
                transcript.append({"scenario": scenario, "tool": tool.name, "arguments": args,
                                   "outcome": outcome.model_dump(), "state_hash": episode.state_hash})
                causes = runtime.take_causes()
                if outcome.internal:
                    internal_count[tool.name] = internal_count.get(tool.name, 0) + 1
                    if outcome.timed_out:
                        timed_out.add(tool.name)
                        failures.append(f"{tool.name}({short(args, 120)}) on scenario {scenario!r}: "
                                        f"timed out after {CALL_TIMEOUT:g} s (an infinite loop?)")
                    elif internal_count[tool.name] <= 2:
                        cause = causes[0].split(": ", 1)[-1] if causes else outcome.error
                        failures.append(f"{tool.name}({short(args, 120)}) on scenario {scenario!r}: internal error "
                                        f"instead of a ToolError: {cause}")
    for name, count in internal_count.items():
        if count > 2 and name not in timed_out:
            failures.append(f"{name}: {count} fuzzed calls ended in an internal error in total")
    return transcript, failures


def robustness_check(runtime: VerifyRuntime) -> tuple[CheckResult, list[dict[str, Any]]]:
    """Invalid arguments get a clear isError; fuzzed valid-ish arguments get success or a ToolError, never a crash."""
    start = time.monotonic()
    failures: list[str] = []
    spec = runtime.spec
    violations = 0
    scenario = spec.initial_scenario
    for tool in spec.tools:
        validator = Draft202012Validator(tool.input_schema)
        for label, args in violating_cases(tool.input_schema):
            try:
                episode = runtime.new_episode("robustness", scenario)
            except EnvLoadError as exc:
                failures.append(str(exc))
                break
            outcome = runtime.call(episode, tool.name, args)
            causes = runtime.take_causes()
            violations += 1
            invalid = not validator.is_valid(dict(args or {}))
            case = f"{tool.name} with {label} {short(args, 100)}"
            if outcome.internal:
                failures.append(f"{case}: internal error: {causes[0] if causes else outcome.error}")
            elif invalid and not outcome.is_error:
                failures.append(f"{case}: expected isError, got success {short(outcome.output, 100)}")
            elif invalid and not (outcome.error or "").strip():
                failures.append(f"{case}: isError with an empty message")
    transcript, fuzz_failures = fuzz_transcript(runtime)
    failures += fuzz_failures
    details = {"schema_violation_cases": violations, "fuzz_calls": len(transcript),
               "fuzz_errors": sum(1 for t in transcript if t["outcome"]["is_error"]), "seed": FUZZ_SEED}
    summary = (f"{violations} schema-violating cases refused cleanly, {len(transcript)} fuzzed calls "
               "without an internal error")
    return result("robustness", failures, time.monotonic() - start, summary, details), transcript


# --- determinism ------------------------------------------------------------------------------------------------

def determinism_check(runtime: VerifyRuntime, checks: list[Check] | None,
                      transcript: list[dict[str, Any]] | None, skip_checks: set[str] | None = None) -> CheckResult:
    """Same calls on the same scenario twice (fresh episodes, different ids): identical outputs and State hashes."""
    start = time.monotonic()
    failures: list[str] = []
    compared = 0
    slow = set(skip_checks or ())
    for check in checks or []:
        if check.id in slow:
            continue  # it timed out in behaviour (already a failure there); replaying it twice only costs time
        first, second = (_guarded_run(runtime, check, f"determinism-{k}") for k in (1, 2))
        runtime.take_causes()
        compared += 1
        for i, (one, two) in enumerate(zip(first.outcomes, second.outcomes, strict=False)):
            if canonical_json(one.model_dump()) != canonical_json(two.model_dump()):
                diff = first_difference(one.model_dump(), two.model_dump())
                failures.append(f"{check.id}: call {i} ({check.calls[i].tool}) differs between runs: {diff}")
                break
        else:
            if len(first.outcomes) != len(second.outcomes):
                failures.append(f"{check.id}: {len(first.outcomes)} calls in run 1, {len(second.outcomes)} in run 2")
            elif first.state_hash != second.state_hash:
                failures.append(f"{check.id}: final State hash differs between runs")
    fuzz_compared = 0
    if transcript is not None:
        again, _ = fuzz_transcript(runtime, previous=transcript)
        fuzz_compared = len(again)
        reported: set[str] = set()
        for i, (a, b) in enumerate(zip(transcript, again, strict=False)):
            if a["scenario"] in reported:
                continue
            if canonical_json(a) != canonical_json(b):
                reported.add(a["scenario"])
                diff = first_difference(a, b)
                failures.append(f"fuzz sequence on scenario {a['scenario']!r}, call {i} ({a['tool']}) differs "
                                f"between runs: {diff}")
        if len(transcript) != len(again) and not reported:
            failures.append(f"fuzz sequence: {len(transcript)} calls in run 1, {len(again)} in run 2")
    details = {"checks_compared": compared, "fuzz_calls_compared": fuzz_compared,
               "skipped_timed_out_checks": sorted(slow)}
    summary = f"{compared} checks and {fuzz_compared} fuzzed calls replayed identically"
    return result("determinism", failures, time.monotonic() - start, summary, details)


# --- entry point ------------------------------------------------------------------------------------------------

def run_checks(path: Path) -> list[CheckResult]:
    """contract, behaviour, robustness, determinism; later checks are skipped when the environment cannot run."""
    contract, runtime, checks = contract_check(path)
    if runtime is None:
        reason = "contract check failed (the environment does not load)"
        return [contract, skipped("behaviour", reason), skipped("robustness", reason), skipped("determinism", reason)]
    results = [contract]
    timed_out_checks: set[str] = set()
    if checks is None:
        results.append(skipped("behaviour", "checks.json is invalid"))
    else:
        def behaviour() -> CheckResult:
            res, runs = behaviour_check(runtime, checks)
            timed_out_checks.update(r.id for r in runs if any(o.timed_out for o in r.outcomes))
            return res

        results.append(_safely("behaviour", behaviour))
    transcript: list[dict[str, Any]] | None = None

    def robustness() -> CheckResult:
        nonlocal transcript
        res, transcript = robustness_check(runtime)
        return res

    results.append(_safely("robustness", robustness))
    results.append(_safely("determinism", lambda: determinism_check(runtime, checks, transcript,
                                                                                 timed_out_checks)))
    return results


def _safely(name: Any, fn: Callable[[], CheckResult]) -> CheckResult:
    start = time.monotonic()
    try:
        return fn()
    except (Exception, RecursionError) as exc:
        return result(name, [f"verifier error while running {name}: {type(exc).__name__}: {exc}"],
                      time.monotonic() - start, "")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m servers.verify.worker <env_dir>", file=sys.stderr)
        return 2
    apply_limits()
    out = sys.stdout
    sys.stdout = sys.stderr  # env code must not corrupt the one JSON document we print
    try:
        results = run_checks(Path(args[0]).resolve())
    except ValidationError as exc:  # should not happen: every boundary is parsed through EnvLoadError
        print(f"verifier error: {exc}", file=sys.stderr)
        return 1
    out.write(json.dumps([r.model_dump(mode="json") for r in results], ensure_ascii=False))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
