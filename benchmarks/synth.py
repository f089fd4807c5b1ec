"""Synthesis throughput: offline roles against the farm, then model-bound roles against a scripted LLM. Prints one
table; asserts nothing.

    .venv/bin/python benchmarks/synth.py [--quick] [--n 200] [--model-n 256] [--workers W]

The farm (`envfactory farm`, every catalog environment, a bearer token) runs as a subprocess on loopback; the
synthesizer runs in this process through `synthesize(SynthConfig(farm=...))`, exactly as the CLI calls it.
  1. offline throughput: every role offline, `--n` trajectories at concurrency 1, 4 and 16 (a fresh run dir each);
     verified trajectories/s = records written / wall seconds of the `synthesize` call (farm startup excluded; the
     call's own discovery and graph build included), attempts, the rejection mix, and CPU seconds per trajectory of
     this process and of the farm's process tree. Goal: >= 20 trajectories/s.
  2. model-bound throughput: the planner, writer and judge are played by a `ScriptedLLMServer` (a real
     OpenAI-compatible HTTP server, `latency=0.2` s per answer) run in its own subprocess, so its CPU does not
     compete with the synthesizer's GIL; the other roles stay offline, so each sample makes a small, known number of
     sequential model requests. R = model requests (counted from the server's `requests`) / trajectories written;
     at concurrency C the bound is C / (R * latency) trajectories/s. Goal: achieved / bound >= 90%.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICKS = os.sysconf("SC_CLK_TCK")
TOKEN = "bench-synth-token"
LATENCY = 0.2
MODEL_ROLES = ["planner", "writer", "judge"]
_children: list[subprocess.Popen[bytes]] = []


# --- processes ---------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def spawn(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    """A server in its own process group (its workers included), registered for cleanup, listening on `port`."""
    env = {k: v for k, v in os.environ.items() if k != "ENVFACTORY_TOKEN"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    _children.append(proc)
    wait_port(port, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server, then SIGKILL whatever is left of its process group (workers it did not reap)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the server's own (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass
    if proc in _children:
        _children.remove(proc)


def stop_all() -> None:
    for proc in list(_children):
        stop(proc)


def on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_cpu(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except (OSError, IndexError):
            pass
    return total


def start_farm(workers: int | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, "-m", "envfactory", "farm", "--port", str(port), "--token", TOKEN]
    if workers is not None:
        argv += ["--workers", str(workers)]
    return spawn(argv, port), f"http://127.0.0.1:{port}"


# --- the scripted model (subprocess) -----------------------------------------------------------------------------

def between(text: str, start: str, end: str) -> str:
    m = re.search(re.escape(start) + r"(.*?)" + re.escape(end), text, re.DOTALL)
    return m.group(1).strip() if m else ""


def respond(body: dict[str, Any]) -> Any:
    """Planner, writer and judge JSON by prompt; the writer sends back the template wording it was given (which
    states every fact), so the offline refiner rarely has work and the request count per sample stays fixed."""
    from tests.fixtures.scripted_llm import error, text

    prompt = "\n".join(str(m.get("content") or "") for m in body.get("messages", []))
    if prompt.startswith("You invent a realistic person"):
        return text(json.dumps({"persona": {"name": "Alex Morgan", "role": "operations manager",
                                            "situation": "busy with a lot of admin"},
                                "goal": "I want this sorted out today."}))
    if "Write the first message you send to your assistant" in prompt:
        return text(json.dumps({"message": between(prompt, "to get this done:", "\n\nRules:")}))
    if prompt.startswith("You judge whether"):
        return text(json.dumps({"verdict": "pass", "reason": "the assistant did what was asked"}))
    return error(400, f"benchmark responder: no route for {prompt[:80]!r}")


def serve_llm(port_file: str) -> None:
    """`--serve-llm PORTFILE`: run the ScriptedLLMServer until SIGTERM; GET /count answers len(server.requests)."""
    from fastapi import FastAPI

    from tests.fixtures.scripted_llm import ScriptedLLMServer

    class Counted(ScriptedLLMServer):
        def app(self) -> FastAPI:
            app = super().app()

            @app.get("/count")
            async def count() -> dict[str, int]:
                with self._lock:
                    return {"requests": len(self.requests)}

            return app

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # the server thread inherits this
    server = Counted(responder=respond, latency=LATENCY).start()
    Path(port_file).write_text(str(server.port))
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


def start_llm() -> tuple[subprocess.Popen[bytes], str]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        env = {k: v for k, v in os.environ.items() if k != "ENVFACTORY_TOKEN"}
        proc = subprocess.Popen([sys.executable, __file__, "--serve-llm", str(port_file)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        _children.append(proc)
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"scripted LLM did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
        port = int(port_file.read_text())
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def llm_requests(base: str) -> int:
    import httpx2

    return int(httpx2.get(f"{base}/count", timeout=10).json()["requests"])


# --- runs --------------------------------------------------------------------------------------------------------

def run_synth(farm: str, farm_pid: int, n: int, concurrency: int, out: Path, roles: list[str]) -> dict[str, Any]:
    from synthesizer.run import SynthConfig, synthesize

    config = SynthConfig(farm=farm, farm_token=TOKEN, n=n, concurrency=concurrency, progress=False, out=out,
                         model_roles=roles)
    cpu0, farm0 = time.process_time(), tree_cpu(farm_pid)
    started = time.perf_counter()
    summary = asyncio.run(synthesize(config))
    wall = time.perf_counter() - started
    return {"wall": wall, "new": summary.new, "attempts": summary.attempts, "rejected": summary.rejected,
            "warnings": summary.warnings, "cpu": time.process_time() - cpu0, "farm_cpu": tree_cpu(farm_pid) - farm0,
            "by_kind": summary.by_kind}


def mix(rejected: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(rejected.items(), key=lambda kv: -kv[1])) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke run, under a minute)")
    parser.add_argument("--n", type=int, default=200, help="trajectories per offline run")
    parser.add_argument("--model-n", type=int, default=256, help="trajectories of the model-bound run")
    parser.add_argument("--model-concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="farm worker processes (default: the farm's)")
    parser.add_argument("--serve-llm", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_llm:
        serve_llm(args.serve_llm)
        return
    if args.quick:
        args.n, args.model_n = 40, 96
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(stop_all)
    for key in [k for k in os.environ if k.startswith("ENVFACTORY_LLM_")]:
        del os.environ[key]

    began = time.perf_counter()
    rows: list[tuple[str, str, str]] = []
    try:
        farm, url = start_farm(args.workers)
        with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
            offline = {}
            for c in (1, 4, 16):
                r = offline[c] = run_synth(url, farm.pid, args.n, c, Path(tmp) / f"offline-c{c}", [])
                rate = r["new"] / r["wall"]
                rows.append((f"1. offline, concurrency {c}: verified trajectories/s",
                             f"{rate:.1f} ({r['new']} in {r['wall']:.1f} s)",
                             f"attempts {r['attempts']}; CPU/trajectory: synth {r['cpu'] / max(r['new'], 1) * 1e3:.0f}"
                             f" ms, farm {r['farm_cpu'] / max(r['new'], 1) * 1e3:.0f} ms; rejected: "
                             f"{mix(r['rejected'])}"))
            best = max(offline.values(), key=lambda r: r["new"] / r["wall"])
            best_rate = best["new"] / best["wall"]
            rows.append(("1. goal >= 20 trajectories/s (best concurrency)", f"{best_rate:.1f}",
                         "goal met" if best_rate >= 20 else "not met"))

            llm, llm_url = start_llm()
            os.environ.update({"ENVFACTORY_LLM_BASE_URL": f"{llm_url}/v1", "ENVFACTORY_LLM_API_KEY": "bench",
                               "ENVFACTORY_LLM_MODEL": "scripted", "ENVFACTORY_LLM_MAX_RETRIES": "0"})
            c = args.model_concurrency
            before = llm_requests(llm_url)
            r = run_synth(url, farm.pid, args.model_n, c, Path(tmp) / "model", MODEL_ROLES)
            requests = llm_requests(llm_url) - before
            stop(llm)
            per = requests / max(r["new"], 1)
            bound = c / (per * LATENCY) if per else float("inf")
            rate = r["new"] / r["wall"]
            rows.append((f"2. model-bound ({'+'.join(MODEL_ROLES)} via scripted LLM, {LATENCY:g} s), concurrency {c}",
                         f"{rate:.1f} trajectories/s ({r['new']} in {r['wall']:.1f} s)",
                         f"R = {requests} requests / {r['new']} = {per:.2f}; attempts {r['attempts']}; rejected: "
                         f"{mix(r['rejected'])}"))
            rows.append(("2. achieved / bound C / (R x latency) (goal >= 90%)",
                         f"{rate / bound:.0%} of {bound:.1f}/s",
                         "goal met" if rate / bound >= 0.9 else "not met"))
    finally:
        stop_all()

    width = max(len(r[0]) for r in rows)
    print(f"synthesis benchmark: {os.cpu_count()} CPUs, {time.perf_counter() - began:.0f} s")
    for measure, result, detail in rows:
        print(f"{measure:<{width}}  {result}")
        print(f"{'':<{width}}    {detail}")


if __name__ == "__main__":
    main()
