"""The farm under load, side by side with its baselines. Prints one table; asserts nothing.

    .venv/bin/python benchmarks/farm.py [--workers 2] [--episodes 10000] [--concurrent 1000] [--quick]

Every server runs as a subprocess on loopback; the load comes from this process through one shared httpx2 pool.
Server CPU is read from /proc for the server's whole process tree (the farm's HTTP process plus its workers).
  1. throughput: a bare SDK `MCPServer` with one trivial tool vs the farm (worker isolation and journal on), same thin
     client, sequential and 50 concurrent episodes; calls/s, server CPU per call, the ratio.
  2. 1,000 concurrent episodes x 20 calls each through the farm: p50/p99 latency and errors.
  3. 10,000 live episodes (created through the control plane, each materialized by one call): farm RSS, create and
     reset latency.
  4. startup time and RSS: the farm hosting every catalog environment vs one stand-alone stdio process per environment.
  5. the thin rollout client vs the SDK client against the farm.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from procs import free_port, tree, tree_cpu, tree_rss  # noqa: E402

from registry.catalog import verified_envs  # noqa: E402
from synthesizer.discovery.fastclient import RolloutClient  # noqa: E402

ENV, READ_TOOL, READ_ARGS = "calendar", "list_calendars", {"limit": 5}


# --- processes ---------------------------------------------------------------------------------------------------

def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listening on {port}")


class Server:
    def __init__(self, argv: list[str], port: int):
        self.port = port
        started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        wait_port(port, self.proc)
        self.listen_seconds = time.perf_counter() - started

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_farm(workers: int) -> Server:
    port = free_port()
    return Server([sys.executable, str(ROOT / "benchmarks" / "farm_server.py"), str(port), str(workers)], port)


# --- load --------------------------------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def run_load(call: Callable[[str], Awaitable[Any]], episodes: int, per_episode: int,
                   prefix: str) -> tuple[float, list[float], int]:
    """`episodes` concurrent tasks, each making `per_episode` sequential calls; (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0

    async def one(ep: str) -> None:
        nonlocal errors
        for _ in range(per_episode):
            t = time.perf_counter()
            try:
                res = await call(ep)
                errors += bool(res.is_error)
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(one(f"{prefix}-{i}") for i in range(episodes)))
    return time.perf_counter() - started, latencies, errors


def http_pool(connections: int = 200) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections),
                              timeout=120)


async def throughput(url: str, pid: int, tool: str, args: dict[str, Any], scenario: str | None,
                     calls: int) -> dict[str, float]:
    """Sequential and 50-episode concurrent calls/s plus server CPU per call, with the thin client."""
    out: dict[str, float] = {}
    async with http_pool() as http:
        client = RolloutClient(url, http=http)

        def call(ep: str) -> Awaitable[Any]:
            meta = {"envfactory/episode": ep}
            if scenario:
                meta["envfactory/scenario"] = scenario
            return client.call_tool(tool, args, meta=meta)

        await run_load(call, 1, 50, "warm")
        cpu0 = tree_cpu(pid)
        secs, _, err_seq = await run_load(call, 1, calls, "seq")
        cpu1 = tree_cpu(pid)
        out["seq_rate"], out["seq_cpu_us"] = calls / secs, (cpu1 - cpu0) / calls * 1e6
        per = max(1, calls // 50)
        secs, lat, err_conc = await run_load(call, 50, per, "conc")
        cpu2 = tree_cpu(pid)
        out["conc_rate"], out["conc_cpu_us"] = 50 * per / secs, (cpu2 - cpu1) / (50 * per) * 1e6
        out["conc_p50_ms"], out["conc_p99_ms"] = pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3
        out["errors"] = err_seq + err_conc
    return out


async def sdk_rate(url: str, calls: int) -> float:
    async with http_pool() as http, Client(streamable_http_client(url, http_client=http)) as client:
        for _ in range(20):
            await client.call_tool(READ_TOOL, READ_ARGS, meta={"envfactory/episode": "sdk"})
        started = time.perf_counter()
        for _ in range(calls):
            await client.call_tool(READ_TOOL, READ_ARGS, meta={"envfactory/episode": "sdk"})
        return calls / (time.perf_counter() - started)


async def many_episodes(base: str, pid: int, count: int) -> dict[str, float]:
    """Create `count` episodes through the control plane, materialize each with one call, reset a sample."""
    creates: list[float] = []
    create_rate = 0.0
    resets: list[float] = []
    ids: list[str] = []
    sem = asyncio.Semaphore(50)
    async with http_pool() as http:
        async def create(i: int) -> None:
            async with sem:
                t = time.perf_counter()
                r = await http.post(f"{base}/api/episodes", json={"env": ENV, "scenario": "typical"})
                creates.append(time.perf_counter() - t)
                r.raise_for_status()
                ids.append(r.json()["id"])

        for i in range(min(500, count)):  # latency: one request at a time, nothing queued in front of it
            await create(i)
        latency = list(creates)
        started = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(count - len(ids))))  # throughput: 50 at a time
        create_rate = (count - len(latency)) / (time.perf_counter() - started)
        creates = latency
        client = RolloutClient(f"{base}/envs/{ENV}/mcp", http=http)

        async def touch(ep: str) -> None:
            async with sem:
                await client.call_tool("create_event", {"calendar_id": "cal_0001", "title": "Bench",
                                                        "start": "2026-03-09T10:00:00Z", "end": "2026-03-09T10:30:00Z"},
                                       meta={"envfactory/episode": ep})

        await asyncio.gather(*(touch(ep) for ep in ids))
        rss = tree_rss(pid)
        for ep in ids[:500]:
            t = time.perf_counter()
            (await http.post(f"{base}/api/episodes/{ep}/reset", json={})).raise_for_status()
            resets.append(time.perf_counter() - t)
    return {"rss_mb": rss / 2**20, "create_p50_ms": pct(creates, 0.5) * 1e3, "create_p99_ms": pct(creates, 0.99) * 1e3,
            "reset_p50_ms": pct(resets, 0.5) * 1e3, "create_rate": create_rate}


async def first_list(url: str) -> None:
    async with Client(url) as client:
        await client.list_tools()


async def standalone_fleet(envs: list[Path]) -> tuple[float, int]:
    """Start one stdio server per environment (as an mcp.json launcher would) until each answers tools/list."""
    started = time.perf_counter()
    procs_rss = 0

    async def one(path: Path) -> int:
        params = StdioServerParameters(command=sys.executable, args=[str(path / "server.py")])
        async with Client(params) as client:
            await client.list_tools()
            mine = os.getpid()
            rss = sum(tree_rss(p) for p in tree(mine) if p != mine and _cmdline(p).endswith(f"{path.name}/server.py"))
            return rss

    results = await asyncio.gather(*(one(p) for p in envs))
    procs_rss = sum(results)
    return time.perf_counter() - started, procs_rss


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


# --- main --------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="a tenth of every count (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.episodes, args.concurrent = args.calls // 10, args.episodes // 10, args.concurrent // 10
    catalog = [e.path for e in verified_envs()] + [ROOT / "benchmarks" / "envs" / "counter"]
    rows: list[tuple[str, str, str]] = []
    began = time.perf_counter()

    port = free_port()
    bare = Server([sys.executable, str(ROOT / "benchmarks" / "bare_server.py"), str(port)], port)
    try:
        b = asyncio.run(throughput(f"http://127.0.0.1:{port}/mcp", bare.proc.pid, "incr", {"by": 1}, None,
                                   args.calls))
    finally:
        bare.stop()

    farm = start_farm(args.workers)
    base = f"http://127.0.0.1:{farm.port}"
    try:
        started = time.perf_counter()
        for env in catalog:
            asyncio.run(first_list(f"{base}/envs/{env.name}/mcp"))
        farm_ready = farm.listen_seconds + (time.perf_counter() - started)
        farm_idle_rss = tree_rss(farm.proc.pid)
        f = asyncio.run(throughput(f"{base}/envs/counter/mcp", farm.proc.pid, "incr", {"by": 1}, "zero", args.calls))
        r = asyncio.run(throughput(f"{base}/envs/{ENV}/mcp", farm.proc.pid, READ_TOOL, READ_ARGS, "typical",
                                   args.calls))
        async def concurrent() -> tuple[float, list[float], int]:
            async with http_pool(1000) as http:
                client = RolloutClient(f"{base}/envs/{ENV}/mcp", http=http)
                return await run_load(lambda ep: client.call_tool(READ_TOOL, READ_ARGS, meta={
                    "envfactory/episode": ep, "envfactory/scenario": "typical"}), args.concurrent, 20, "many")
        secs, lat, errors = asyncio.run(concurrent())
        m = asyncio.run(many_episodes(base, farm.proc.pid, args.episodes))
        sdk = asyncio.run(sdk_rate(f"{base}/envs/{ENV}/mcp", args.calls // 2))
        thin_seq = r["seq_rate"]  # the same tool, episode and scenario as the SDK client's run
    finally:
        farm.stop()
    fleet_secs, fleet_rss = asyncio.run(standalone_fleet(catalog))

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "-"

    rows += [
        ("1. bare MCPServer, 1 trivial tool: calls/s seq | 50 episodes",
         f"{b['seq_rate']:,.0f} | {b['conc_rate']:,.0f}",
         f"server CPU {b['seq_cpu_us']:,.0f} | {b['conc_cpu_us']:,.0f} us/call"),
        (f"1. farm ({args.workers} workers, journal on), the same trivial tool: calls/s seq | 50 episodes",
         f"{f['seq_rate']:,.0f} | {f['conc_rate']:,.0f}",
         f"server CPU {f['seq_cpu_us']:,.0f} | {f['conc_cpu_us']:,.0f} us/call"),
        ("1. farm / bare (goal >= 1.0): calls/s seq | 50 episodes",
         f"{ratio(f['seq_rate'], b['seq_rate'])} | {ratio(f['conc_rate'], b['conc_rate'])}",
         f"CPU/call ratio {ratio(f['conc_cpu_us'], b['conc_cpu_us'])} (lower is better)"),
        (f"1. farm, a catalog read ({ENV}.{READ_TOOL}, typical): calls/s seq | 50 episodes",
         f"{r['seq_rate']:,.0f} | {r['conc_rate']:,.0f}",
         f"server CPU {r['seq_cpu_us']:,.0f} | {r['conc_cpu_us']:,.0f} us/call"),
        (f"2. {args.concurrent} concurrent episodes x 20 calls", f"{args.concurrent * 20 / secs:,.0f} calls/s",
         f"p50 {pct(lat, .5) * 1e3:.1f} ms, p99 {pct(lat, .99) * 1e3:.1f} ms, errors {errors} (goal 0)"),
        (f"3. farm RSS with {args.episodes:,} live episodes of {ENV}/typical (goal <= 1 GB)", f"{m['rss_mb']:,.0f} MB",
         f"idle farm {farm_idle_rss / 2**20:,.0f} MB"),
        ("3. episode create via /api (goal p50 <= 5 ms) | reset p50",
         f"{m['create_p50_ms']:.2f} ms | {m['reset_p50_ms']:.2f} ms",
         f"create p99 {m['create_p99_ms']:.1f} ms; {m['create_rate']:,.0f} creates/s with 50 in flight"),
        (f"4. startup until every env answers tools/list: farm | {len(catalog)} stdio processes",
         f"{farm_ready:.2f} s | {fleet_secs:.2f} s", f"ratio {ratio(farm_ready, fleet_secs)} (goal <= 0.1)"),
        (f"4. RSS hosting {len(catalog)} envs: farm (idle) | stdio processes",
         f"{farm_idle_rss / 2**20:,.0f} MB | {fleet_rss / 2**20:,.0f} MB",
         f"ratio {ratio(farm_idle_rss, fleet_rss)} (goal <= 0.1)"),
        (f"5. thin rollout client | SDK client vs the farm ({ENV}.{READ_TOOL}, sequential)",
         f"{thin_seq:,.0f} | {sdk:,.0f} calls/s",
         f"ratio {ratio(thin_seq, sdk)} (goal >= 2)"),
    ]
    table = Table(title=f"farm benchmark ({os.cpu_count()} CPUs, {time.perf_counter() - began:.0f} s)")
    for col in ("measure", "result", "detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
