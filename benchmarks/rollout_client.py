"""Rollout hot path: the thin RolloutClient vs the SDK `Client` against one stand-alone server over HTTP.

    .venv/bin/python benchmarks/rollout_client.py [--calls 1000] [--episodes 50] [--per-episode 40] [--repeat 3]

Starts the notes fixture (`tests/fixtures/envs/notes/server.py --http PORT`) in a subprocess (pinned to CPU 0 and the
benchmark to CPU 1 when the machine has 2+ CPUs), then for each client measures
  * seq: one episode, `--calls` sequential tools/call after a warm-up;
  * conc: `--episodes` episodes, `--per-episode` calls each, all episodes concurrent (asyncio tasks);
reporting calls/s (wall clock), p50/p99 latency, and client CPU per call (`time.process_time`, this process only: the
server runs in its own process). Each figure is the median over `--repeat` runs. Every client shares one
`httpx2.AsyncClient`. "thin+validate" is the thin client as the synthesizer configures it (output schemas checked
like the SDK client does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from procs import free_port  # noqa: E402

from synthesizer.discovery.fastclient import RolloutClient  # noqa: E402

NOTES = ROOT / "tests" / "fixtures" / "envs" / "notes" / "server.py"
Call = Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[Any]]


def start_server(pin: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, str(NOTES), "--http", str(port)]
    if pin:
        argv = ["taskset", "-c", "0", *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/mcp"


def check(result: Any) -> None:
    if result.is_error:
        raise RuntimeError(f"tool call failed: {result.content}")


async def seq(call: Call, calls: int, tag: str) -> tuple[float, float, list[float]]:
    meta = {"envfactory/episode": f"bench-seq-{tag}", "envfactory/scenario": "small"}
    for _ in range(50):
        check(await call("get_note", {"note_id": "note_0001"}, meta))
    lat: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(calls):
        t = time.perf_counter()
        tool, args = ("list_notes", {"limit": 5}) if i % 2 else ("get_note", {"note_id": "note_0001"})
        check(await call(tool, args, meta))
        lat.append(time.perf_counter() - t)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return calls / wall, cpu / calls, lat


async def conc(call: Call, episodes: int, per_episode: int, tag: str) -> tuple[float, float, list[float]]:
    lat: list[float] = []

    async def one(ep: int) -> None:
        meta = {"envfactory/episode": f"bench-conc-{tag}-{ep}", "envfactory/scenario": "small"}
        for i in range(per_episode):
            t = time.perf_counter()
            tool, args = ("list_notes", {"limit": 5}) if i % 2 else ("get_note", {"note_id": "note_0001"})
            check(await call(tool, args, meta))
            lat.append(time.perf_counter() - t)

    await one(-1)  # warm-up
    lat.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(ep) for ep in range(episodes)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = episodes * per_episode
    return n / wall, cpu / n, lat


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run_client(kind: str, url: str, args: argparse.Namespace, run: int) -> dict[str, tuple[float, ...]]:
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(
            timeout=60.0, limits=httpx2.Limits(max_connections=200, max_keepalive_connections=100)))
        call: Call
        if kind == "sdk":
            sdk = await stack.enter_async_context(Client(streamable_http_client(url, http_client=http)))
            await sdk.list_tools()  # the SDK validates outputs against the listed schemas

            async def call(tool: str, arguments: dict[str, Any], meta: dict[str, Any]) -> Any:
                return await sdk.call_tool(tool, arguments, meta=meta)
        else:
            schemas = None
            if kind == "thin+validate":
                page = await RolloutClient(url, http=http).list_tools()
                schemas = {t["name"]: t.get("outputSchema") for t in page.tools}
            thin = RolloutClient(url, http=http, output_schemas=schemas)

            async def call(tool: str, arguments: dict[str, Any], meta: dict[str, Any]) -> Any:
                return await thin.call_tool(tool, arguments, meta=meta)

        tag = f"{kind}-{run}"
        s_rate, s_cpu, s_lat = await seq(call, args.calls, tag)
        c_rate, c_cpu, c_lat = await conc(call, args.episodes, args.per_episode, tag)
        return {"seq": (s_rate, pct(s_lat, 0.5), pct(s_lat, 0.99), s_cpu * 1e6),
                "conc": (c_rate, pct(c_lat, 0.5), pct(c_lat, 0.99), c_cpu * 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls per run")
    parser.add_argument("--episodes", type=int, default=50, help="concurrent episodes")
    parser.add_argument("--per-episode", type=int, default=40, help="calls per concurrent episode")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client (median reported)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client to CPUs 0/1")
    args = parser.parse_args()

    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    proc, url = start_server(pin)
    if pin:
        os.sched_setaffinity(0, {1})
    kinds = ["sdk", "thin", "thin+validate"]
    results: dict[str, list[dict[str, tuple[float, ...]]]] = {k: [] for k in kinds}
    try:
        for run in range(args.repeat):
            for kind in kinds:  # interleaved, so drift on a noisy machine hits every client alike
                results[kind].append(asyncio.run(run_client(kind, url, args, run)))
    finally:
        proc.terminate()
        proc.wait(10)

    print(f"server: notes fixture at {url}; pinned: {pin}; median of {args.repeat} runs")
    print(f"seq: 1 episode x {args.calls} calls; conc: {args.episodes} episodes x {args.per_episode} calls, concurrent")
    header = f"{'client':<14} {'mode':<5} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'client CPU us/call':>19}"
    print(header)
    print("-" * len(header))
    for kind in kinds:
        for mode in ("seq", "conc"):
            cols = [statistics.median(r[mode][i] for r in results[kind]) for i in range(4)]
            print(f"{kind:<14} {mode:<5} {cols[0]:>9.0f} {cols[1]:>8.2f} {cols[2]:>8.2f} {cols[3]:>19.0f}")


if __name__ == "__main__":
    main()
