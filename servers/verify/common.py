"""Small helpers shared by the parent (static, protocol, report) and the worker (the checks that execute code)."""

from __future__ import annotations

import json
from typing import Any

from common import jsondiff
from registry.spec import CheckName, CheckResult

MAX_FAILURES = 20
PROTOCOL_REPLAY_CHECKS = 3
"""How many checks of checks.json the protocol check replays over MCP (the worker records the same ones)."""
EXACT_WORDS = {"missing": "{at}: missing", "added": "{at}: unexpected (value {actual})",
               "length": "{at}: expected {expected_len} items, got {actual_len}",
               "value": "{at}: expected {expected}, got {actual}"}
"""How `first_difference` words each kind of difference (see common.jsondiff.describe)."""


def capped(failures: list[str], limit: int = MAX_FAILURES) -> list[str]:
    """At most `limit` failures, plus a line saying how many more there were, so reports stay readable."""
    if len(failures) <= limit:
        return failures
    return [*failures[:limit], f"... and {len(failures) - limit} more"]


def result(name: CheckName, failures: list[str], seconds: float, ok_summary: str,
           details: dict[str, Any] | None = None) -> CheckResult:
    """A CheckResult whose summary is `ok_summary` on success, else the failure count and the first failure."""
    summary = ok_summary if not failures else (
        f"{len(failures)} problem{'s' if len(failures) != 1 else ''}: {short(failures[0], 160)}")
    return CheckResult(name=name, passed=not failures, seconds=round(seconds, 3), summary=summary,
                       failures=capped(failures), details=details or {})


def skipped(name: CheckName, reason: str) -> CheckResult:
    return CheckResult(name=name, passed=False, summary=f"skipped: {reason}", failures=[f"skipped: {reason}"])


def short(value: Any, limit: int = 200) -> str:
    """A one-line rendering of a value for failure messages."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_difference(expected: Any, actual: Any, where: str = "") -> str | None:
    """Where two JSON values first differ ("properties.limit.maximum: expected 100, got 50"), or None if equal.

    Exact comparison; an object's missing or unexpected keys are reported before differences inside its values."""
    diff = jsondiff.first_difference(expected, actual, presence_first=True)
    return None if diff is None else jsondiff.describe(diff, EXACT_WORDS, _render, prefix=where)


def _render(value: Any) -> str:
    return short(json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr), 80)
