"""The protocol check: serve the environment's own server.py over stdio with the official MCP SDK client.

This is the only check that sees what a real client sees, so it compares the wire, not our Python objects:
`tools/list` against env.json, and a replay of the first checks against the worker's in-process results (outputs,
errors and the State hash the server reports in `_meta`). Observation (async, spawns a process) is separate from
comparison (pure), so the parent can observe while the worker runs.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from common.procs import child_env, module_argv
from registry.contract import canonical_json
from registry.envdir import EnvDir
from registry.spec import Check, CheckResult, ToolSpec
from registry.wire import META_EPISODE, META_SCENARIO, META_STATE_HASH
from servers.verify.checks import substitute
from servers.verify.common import first_difference, result, short

TIMEOUT = 60.0
CALL_TIMEOUT = 20.0
CONTROL_PLANE_NAMES = frozenset({
    "reset", "reset_state", "reset_episode", "snapshot", "restore", "get_state", "set_state", "load_state",
    "dump_state", "state", "state_hash", "create_episode", "delete_episode", "list_episodes", "new_episode",
    "admin", "health", "metrics", "shutdown",
})
"""Episode and admin operations live on the farm's HTTP control plane; as MCP tools the model could call them."""


@dataclass
class ProtocolObservation:
    """What the served environment showed a client: its tool list and the replayed checks (or why it could not)."""

    tools: list[dict[str, Any]] = field(default_factory=list)
    replays: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def _tool_wire(tool: Any) -> dict[str, Any]:
    ann = tool.annotations
    return {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "outputSchema": tool.output_schema,
        "annotations": None if ann is None else {
            "title": ann.title, "readOnlyHint": ann.read_only_hint, "destructiveHint": ann.destructive_hint,
            "idempotentHint": ann.idempotent_hint, "openWorldHint": ann.open_world_hint,
        },
    }


def _expected_wire(tool: ToolSpec) -> dict[str, Any]:
    ann = tool.annotations
    return {
        "name": tool.name,
        "title": ann.title,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "outputSchema": tool.output_schema,
        "annotations": {"title": ann.title, "readOnlyHint": ann.read_only_hint,
                        "destructiveHint": ann.destructive_hint, "idempotentHint": ann.idempotent_hint,
                        "openWorldHint": ann.open_world_hint},
    }


def _text(res: Any) -> str:
    return "".join(getattr(block, "text", "") for block in res.content or [])


def _stderr_tail(log: Any, lines: int = 8) -> str:
    try:
        log.flush()
        log.seek(0)
        tail = [ln for ln in log.read().splitlines() if ln.strip()][-lines:]
    except (OSError, ValueError):
        return ""
    return (" | stderr: " + " / ".join(short(ln, 200) for ln in tail)) if tail else ""


async def observe(env_dir: EnvDir, checks: list[Check], timeout: float = TIMEOUT) -> ProtocolObservation:
    """Spawn server.py, list its tools and replay `checks` each in a fresh episode; never raises."""
    obs = ProtocolObservation()
    start = time.monotonic()
    server_py = env_dir.path / "server.py"
    if not server_py.is_file():
        obs.error = "server.py is missing"
        return obs
    command, *args = module_argv("servers.verify.launch", str(server_py))
    # base {}: the SDK adds its own safe default environment to what we pass
    params = StdioServerParameters(command=command, args=args, cwd=str(env_dir.path), env=child_env({}))
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            with anyio.fail_after(timeout):
                async with Client(stdio_client(params, errlog=errlog)) as client:
                    obs.tools = [_tool_wire(t) for t in (await client.list_tools()).tools]
                    for check in checks:
                        obs.replays.append(await _replay(client, check))
        except TimeoutError:
            obs.error = f"timed out after {timeout:g} s talking to server.py{_stderr_tail(errlog)}"
        except Exception as exc:
            obs.error = f"could not talk to server.py: {_describe(exc)}{_stderr_tail(errlog)}"
    obs.seconds = time.monotonic() - start
    return obs


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {short(str(exc), 200)}"


async def _replay(client: Client, check: Check) -> dict[str, Any]:
    episode = f"verify-{uuid.uuid4().hex[:12]}-{check.id}"
    meta: Any = {META_EPISODE: episode, META_SCENARIO: check.scenario}
    calls: list[dict[str, Any]] = []
    outputs: list[dict[str, Any] | None] = []
    state_hash: str | None = None
    problem: str | None = None
    for i, call in enumerate(check.calls):
        try:
            arguments = substitute(call.arguments, outputs)
        except LookupError:
            break  # the worker stops at the same point; the comparison sees the same number of calls
        try:
            res = await client.call_tool(call.tool, arguments, read_timeout_seconds=CALL_TIMEOUT, meta=meta)
        except Exception as exc:
            problem = f"call {i} ({call.tool}) failed on the client side: {_describe(exc)}"
            break
        is_error = bool(res.is_error)
        output = None if is_error else res.structured_content
        calls.append({"is_error": is_error, "output": output, "error": _text(res) if is_error else None})
        outputs.append(output)
        state_hash = (res.meta or {}).get(META_STATE_HASH)
        if (res.meta or {}).get(META_EPISODE) != episode:
            problem = f"call {i} ({call.tool}): result _meta names episode {(res.meta or {}).get(META_EPISODE)!r}"
    return {"id": check.id, "calls": calls, "state_hash": state_hash, "problem": problem}


def compare(spec_tools: list[ToolSpec], obs: ProtocolObservation, expected_replays: list[dict[str, Any]] | None,
            extra_seconds: float = 0.0) -> CheckResult:
    """Judge an observation: exact tool list, no control-plane tools, replays equal to the in-process runs."""
    failures: list[str] = []
    if obs.error:
        failures.append(obs.error)
    if obs.tools or not obs.error:
        failures += _compare_tools(spec_tools, obs.tools)
    if expected_replays is not None:
        by_id = {r["id"]: r for r in expected_replays}
        for got in obs.replays:
            failures += _compare_replay(got, by_id.get(got["id"]))
    elif not obs.error:
        failures.append("no in-process results to compare the replay with (the worker did not run behaviour)")
    details = {"tools": len(obs.tools), "replayed_checks": len(obs.replays),
               "replayed_calls": sum(len(r["calls"]) for r in obs.replays), "transport": "stdio"}
    summary = (f"tools/list matches env.json ({len(obs.tools)} tools); {len(obs.replays)} checks replayed over "
               "stdio with identical outputs and State hashes")
    return result("protocol", failures, obs.seconds + extra_seconds, summary, details)


def _compare_tools(spec_tools: list[ToolSpec], served: list[dict[str, Any]]) -> list[str]:
    failures: list[str] = []
    expected_names = [t.name for t in spec_tools]
    served_names = [t["name"] for t in served]
    for name in served_names:
        if name in CONTROL_PLANE_NAMES:
            failures.append(f"tools/list exposes control-plane tool {name!r}: episode and state operations belong "
                            "to the farm's HTTP control plane, not MCP")
    extra = [n for n in served_names if n not in expected_names]
    missing = [n for n in expected_names if n not in served_names]
    if extra:
        failures.append(f"tools/list has extra tools not in env.json: {extra}")
    if missing:
        failures.append(f"tools/list lacks tools declared in env.json: {missing}")
    if not extra and not missing and served_names != expected_names:
        failures.append(f"tools/list order differs: expected {expected_names}, got {served_names}")
    served_by_name = {t["name"]: t for t in served}
    for tool in spec_tools:
        got = served_by_name.get(tool.name)
        if got is None:
            continue
        want = _expected_wire(tool)
        for key in ("title", "description", "inputSchema", "outputSchema", "annotations"):
            diff = first_difference(want[key], got[key])
            if diff:
                failures.append(f"{tool.name}: served {key} differs from env.json: {diff.removeprefix('(root): ')}")
    return failures


def _compare_replay(got: dict[str, Any], want: dict[str, Any] | None) -> list[str]:
    cid = got["id"]
    if want is None:
        return [f"{cid}: no in-process result to compare with"]
    failures: list[str] = []
    if got.get("problem"):
        failures.append(f"{cid}: {got['problem']}")
    for i, (g, w) in enumerate(zip(got["calls"], want["calls"], strict=False)):
        if g["is_error"] != w["is_error"]:
            failures.append(f"{cid}: call {i}: over MCP is_error={g['is_error']}, in process is_error={w['is_error']}"
                            f" ({short(g['error'] or g['output'], 100)} vs {short(w['error'] or w['output'], 100)})")
        elif not g["is_error"] and canonical_json(g["output"]) != canonical_json(w["output"]):
            failures.append(f"{cid}: call {i}: structured_content differs from the in-process output at "
                            f"{first_difference(w['output'], g['output'])}")
        elif g["is_error"] and g["error"] != w["error"]:
            failures.append(f"{cid}: call {i}: error text over MCP {short(g['error'], 100)!s} differs from "
                            f"in-process {short(w['error'], 100)!s}")
    if len(got["calls"]) != len(want["calls"]) and not got.get("problem"):
        failures.append(f"{cid}: {len(got['calls'])} calls over MCP, {len(want['calls'])} in process")
    if got["state_hash"] != want["state_hash"] and got["calls"]:
        failures.append(f"{cid}: final State hash over MCP {str(got['state_hash'])[:12]} differs from in-process "
                        f"{str(want['state_hash'])[:12]}")
    return failures

