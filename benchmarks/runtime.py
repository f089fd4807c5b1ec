"""Per-call cost of the runtime and of the MCP layer above it, for every catalog environment.

Prints a table: direct runtime calls/s (validation + atomic write + output check) and in-memory MCP calls/s through
the official SDK client. Run: `python benchmarks/runtime.py [--calls N]`. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import anyio
from mcp import Client
from rich.console import Console
from rich.table import Table

from registry.catalog import verified_envs
from registry.wire import META_EPISODE
from servers.runtime.mcp_server import build_server
from servers.runtime.runtime import EnvRuntime


def first_read_call(rt: EnvRuntime) -> tuple[str, dict]:
    """A read-only tool with no required arguments (a list or search), called with no arguments."""
    for t in rt.spec.tools:
        if t.annotations.read_only_hint and not t.input_schema.get("required"):
            return t.name, {}
    raise SystemExit(f"{rt.name}: no argument-free read tool to benchmark")


def bench_direct(rt: EnvRuntime, calls: int) -> tuple[float, float]:
    tool, args = first_read_call(rt)
    ep = rt.new_episode("bench", rt.spec.scenarios[-1])
    write = next((c for ch in rt.env_dir.checks().checks for c in ch.calls
                  if not c.expect.is_error and not rt.tools[c.tool].annotations.read_only_hint
                  and "${" not in str(c.arguments)), None)
    start = time.perf_counter()
    for _ in range(calls):
        rt.call(ep, tool, args)
    read_rate = calls / (time.perf_counter() - start)
    if write is None:
        return read_rate, float("nan")
    start = time.perf_counter()
    for i in range(calls):
        rt.call(rt.new_episode(f"w{i}", ch_scenario(rt, write)), write.tool, write.arguments)
    return read_rate, calls / (time.perf_counter() - start)


def ch_scenario(rt: EnvRuntime, call: object) -> str:
    for ch in rt.env_dir.checks().checks:
        if call in ch.calls:
            return ch.scenario
    return rt.spec.initial_scenario


async def bench_mcp(rt: EnvRuntime, calls: int) -> float:
    tool, args = first_read_call(rt)
    async with Client(build_server(rt)) as client:
        await client.call_tool(tool, args, meta={META_EPISODE: "b"})
        start = time.perf_counter()
        for _ in range(calls):
            await client.call_tool(tool, args, meta={META_EPISODE: "b"})
        return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    table = Table(title=f"runtime cost per call ({args.calls} calls each)")
    for col in ("environment", "read tool", "direct reads/s", "direct fresh-episode writes/s", "in-memory MCP reads/s"):
        table.add_column(col, justify="right")
    for env in verified_envs():
        rt = EnvRuntime.load(env.path)
        reads, writes = bench_direct(rt, args.calls)
        mcp_rate = anyio.run(bench_mcp, rt, args.calls)
        table.add_row(rt.name, first_read_call(rt)[0], f"{reads:,.0f}", f"{writes:,.0f}", f"{mcp_rate:,.0f}")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
