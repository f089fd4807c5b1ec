"""Runs the deterministic checks of checks.json against a runtime: substitution, subset matching, state expectations."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from common import jsondiff
from registry.spec import Check, CheckCall
from servers.runtime.runtime import CallOutcome, EnvRuntime, Episode

_REF = re.compile(r"^\$\{(\d+)\.([^}]*)\}$")
_MISSING = object()
SUBSET_WORDS = {"missing": "{at}: missing", "not_empty": "{at}: expected an empty object, got {actual_len} key(s)",
                "not_object": "{at}: expected an object, got {actual}",
                "not_list": "{at}: expected a list of {expected_len}, got {actual}",
                "length": "{at}: expected a list of {expected_len}, got {actual}",
                "value": "{at}: expected {expected}, got {actual}"}
"""How `subset_mismatch` words each kind of difference (see common.jsondiff.describe)."""


class CheckRun(BaseModel):
    """What one check produced: per-call outcomes, the final State hash, and every way it missed its expectations."""

    id: str
    passed: bool
    failures: list[str] = Field(default_factory=list)
    outcomes: list[CallOutcome] = Field(default_factory=list)
    state_hash: str = ""


def get_path(value: Any, path: str) -> Any:
    """Follow a dotted path ("order.items.0.sku") through dicts and lists; `_MISSING` if it leads nowhere."""
    if path == "":
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def substitute(value: Any, outputs: list[dict[str, Any] | None]) -> Any:
    """Replace "${N.path}" strings by values from earlier outputs of the same check."""
    if isinstance(value, str):
        m = _REF.match(value)
        if not m:
            return value
        idx, path = int(m.group(1)), m.group(2)
        if idx >= len(outputs) or outputs[idx] is None:
            raise LookupError(f"{value}: call {idx} has no output")
        found = get_path(outputs[idx], path)
        if found is _MISSING:
            raise LookupError(f"{value}: no such field in the output of call {idx}")
        return found
    if isinstance(value, list):
        return [substitute(v, outputs) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, outputs) for k, v in value.items()}
    return value


def subset_mismatch(expected: Any, actual: Any, where: str = "") -> str | None:
    """None when `expected` is contained in `actual` (dict keys recursively, lists element-wise and same length;
    `{}` asserts emptiness, since a subset match would accept anything; numbers compare by value)."""
    diff = jsondiff.first_difference(expected, actual, subset=True)
    return None if diff is None else jsondiff.describe(diff, SUBSET_WORDS, repr, prefix=where)


def call_mismatch(call: CheckCall, outcome: CallOutcome, outputs: list[dict[str, Any] | None] | None = None
                  ) -> str | None:
    """Why `outcome` misses the call's expectation; "${N.path}" in the expected output refers to earlier outputs."""
    exp = call.expect
    if outcome.internal:
        return f"{call.tool}: environment bug: {outcome.error}"
    if exp.is_error != outcome.is_error:
        got = f"error {outcome.error!r}" if outcome.is_error else f"success {outcome.text()[:200]}"
        return f"{call.tool}: expected {'an error' if exp.is_error else 'success'}, got {got}"
    if exp.is_error and exp.error_contains and exp.error_contains.lower() not in (outcome.error or "").lower():
        return f"{call.tool}: error {outcome.error!r} does not contain {exp.error_contains!r}"
    if not exp.is_error and exp.output is not None:
        try:
            expected = substitute(exp.output, outputs or [])
        except LookupError as exc:
            return f"{call.tool}: expected output: {exc}"
        problem = subset_mismatch(expected, outcome.output)
        if problem:
            return f"{call.tool}: output {problem}"
    return None


def run_check(runtime: EnvRuntime, check: Check, episode_id: str = "check") -> CheckRun:
    """Run one check in a fresh episode of its scenario."""
    episode: Episode = runtime.new_episode(f"{episode_id}:{check.id}", check.scenario)
    failures: list[str] = []
    outcomes: list[CallOutcome] = []
    outputs: list[dict[str, Any] | None] = []
    for i, call in enumerate(check.calls):
        try:
            arguments = substitute(call.arguments, outputs)
        except LookupError as exc:
            failures.append(f"call {i} ({call.tool}): {exc}")
            break
        outcome = runtime.call(episode, call.tool, arguments)
        outcomes.append(outcome)
        problem = call_mismatch(call, outcome, outputs)
        outputs.append(outcome.output)
        if problem:
            failures.append(f"call {i} {problem}")
    state = episode.state.model_dump(mode="json")
    for path, expected in check.expect_state.items():
        actual = get_path(state, path)
        if actual is _MISSING:
            failures.append(f"state.{path}: missing")
        else:
            problem = subset_mismatch(expected, actual, f"state.{path}")
            if problem:
                failures.append(problem)
    return CheckRun(id=check.id, passed=not failures, failures=failures, outcomes=outcomes,
                    state_hash=episode.state_hash)


def check_coverage(runtime: EnvRuntime, checks: list[Check], runs: list[CheckRun] | None = None) -> list[str]:
    """Tools missing a checked success path, or (when they have required arguments) a checked domain-error path,
    and write tools never followed by a read in the same check (a write must be shown visible to a later read).

    With `runs` (the results of running `checks`), an error path counts only if the call really failed with a
    ToolError: a schema rejection proves nothing about the environment's own rules.
    """
    ok: set[str] = set()
    err: set[str] = set()
    seen_by_read: set[str] = set()
    for check in checks:
        for i, call in enumerate(check.calls):
            later = check.calls[i + 1:]
            if not call.expect.is_error and any(
                    c.tool in runtime.tools and runtime.tools[c.tool].annotations.read_only_hint
                    and not c.expect.is_error for c in later):
                seen_by_read.add(call.tool)
    outcomes = {r.id: r.outcomes for r in runs or []}
    for check in checks:
        for i, call in enumerate(check.calls):
            if not call.expect.is_error:
                ok.add(call.tool)
            elif runs is None:
                err.add(call.tool)
            else:
                got = outcomes.get(check.id, [])
                if i < len(got) and got[i].domain_error:
                    err.add(call.tool)
    problems = []
    for name, tool in runtime.tools.items():
        if name not in ok:
            problems.append(f"{name}: no check covers its success path")
        if tool.input_schema.get("required") and name not in err:
            problems.append(f"{name}: no check covers a domain error (ToolError) of it")
        if not tool.annotations.read_only_hint and name not in seen_by_read:
            problems.append(f"{name}: no check reads the State back after it succeeds")
    unknown = sorted({c.tool for ch in checks for c in ch.calls} - set(runtime.tools))
    problems += [f"checks call unknown tool {t!r}" for t in unknown]
    bad_scen = sorted({ch.scenario for ch in checks} - set(runtime.spec.scenarios))
    problems += [f"checks use unknown scenario {s!r}" for s in bad_scen]
    return problems
