"""Synthesis throughput: offline roles against the farm, then model-bound roles against a scripted LLM. Prints one
table; asserts nothing.

    .venv/bin/python benchmarks/synth.py [--quick] [--n 200] [--model-n 256] [--workers W] [--profile DIR]

The farm (`envfactory farm`, every catalog environment, a bearer token) runs as a subprocess on loopback; the
synthesizer runs in this process through `synthesize(SynthConfig(farm=...))`, as the CLI calls it. Every child runs
in its own process group and is ended (group included) on exit, Ctrl-C or SIGTERM.
  0. setup: one `synthesize` call with n=0 (discovery, tool graph, schedule), which every run below pays once.
  1. offline throughput: every role offline, `--n` trajectories at concurrency 1, 4 and 16 (a fresh run dir each);
     verified trajectories/s = records written / wall seconds of the `synthesize` call (farm startup excluded),
     attempts, the farm's tool calls per trajectory (its /metrics), the rejection mix. Goal: >= 20 trajectories/s.
  2. model-bound throughput: the planner, writer and judge are played by a `ScriptedLLMServer` (a real
     OpenAI-compatible HTTP server, `latency=0.2` s per answer) run in its own subprocess, so its CPU does not
     compete with the synthesizer's GIL; the other roles stay offline, so each sample makes a small, known number of
     sequential model requests. R = model requests (counted from the server's `requests`) / trajectories written;
     at concurrency C the bound is C / (R * latency) trajectories/s. Goal at C=64: achieved / bound >= 90%. A C=4 run
     (bound below the CPU ceiling) shows the model path itself.
Every run also reports CPU seconds per trajectory (this process + the farm's process tree + the scripted LLM) and the
ceiling that sets: cores / CPU per trajectory, the most this machine could do with every core on this work alone.
The load average is printed: on a shared machine wall-clock figures drop, CPU per trajectory much less.
`--profile DIR`: py-spy (`--gil`) on this process and the farm's tree during the concurrency-16 offline run; the raw
stacks go to DIR and a summary (leaf frames, the project's frames) is printed under the table.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
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
from procs import free_port, tree_cpu  # noqa: E402

TOKEN = "bench-synth-token"
LATENCY = 0.2
MODEL_ROLES = ["planner", "writer", "judge"]
_children: list[subprocess.Popen[bytes]] = []
_stderr: dict[int, Any] = {}  # pid -> the temporary file its stderr goes to (a pipe nobody reads could fill up)


# --- processes ---------------------------------------------------------------------------------------------------

def launch(argv: list[str]) -> subprocess.Popen[bytes]:
    """A child in its own process group (so its workers can be found and ended), registered for cleanup."""
    env = {k: v for k, v in os.environ.items() if k != "ENVFACTORY_TOKEN"}
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    _children.append(proc)
    _stderr[proc.pid] = log
    return proc


def errors(proc: subprocess.Popen[bytes]) -> str:
    log = _stderr.get(proc.pid)
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace").strip()[-2000:]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {errors(proc)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server, then SIGKILL whatever is left of its process group (workers it did not reap)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the server's own (start_new_session)
    if proc in _children:
        _children.remove(proc)
    log = _stderr.pop(proc.pid, None)
    if log is not None:
        log.close()


def stop_all() -> None:
    for proc in list(_children):
        stop(proc)


def on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def start_farm(workers: int | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, "-m", "envfactory", "farm", "--port", str(port), "--token", TOKEN]
    if workers is not None:
        argv += ["--workers", str(workers)]
    proc = launch(argv)
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


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
    Path(port_file + ".tmp").write_text(str(server.port))
    os.replace(port_file + ".tmp", port_file)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


def start_llm() -> tuple[subprocess.Popen[bytes], str]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = launch([sys.executable, __file__, "--serve-llm", str(port_file)])
        deadline = time.monotonic() + 60
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"scripted LLM did not start: {errors(proc)}")
            time.sleep(0.05)
        port = int(port_file.read_text())
    wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def farm_calls(base: str) -> tuple[float, float]:
    """(tool calls served, tool calls that returned isError) so far, from the farm's /metrics."""
    import httpx2

    text = httpx2.get(f"{base}/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=10).text
    total = {"envfactory_tool_calls_total": 0.0, "envfactory_tool_errors_total": 0.0}
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in total:
            total[name] += float(line.rsplit(" ", 1)[1])
    return total["envfactory_tool_calls_total"], total["envfactory_tool_errors_total"]


def llm_requests(base: str) -> int:
    import httpx2

    return int(httpx2.get(f"{base}/count", timeout=10).json()["requests"])


# --- profiling (optional) ----------------------------------------------------------------------------------------

IDLE = ("select (selectors.py", "Condition.wait", "Queue.get", "sigwait", "_worker (concurrent/futures/thread.py:81)")


class Profiler:
    """`py-spy record --gil --nonblocking` on a process (and its subprocesses) until `stop()`; raw folded stacks."""

    def __init__(self, pid: int, out: Path, subprocesses: bool = False):
        self.out = out
        spy = Path(sys.executable).with_name("py-spy")
        argv = [str(spy), "record", "--gil", "--nonblocking", "-r", "200", "-f", "raw", "-o", str(out), "-p",
                str(pid), *(["--subprocesses"] if subprocesses else [])]
        self.proc = launch(argv)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        stop(self.proc)

    def summary(self, title: str, top: int = 12) -> list[str]:
        """Leaf frames and the project's own frames (inclusive), as shares of the non-idle samples."""
        if not self.out.exists():
            return [f"{title}: no profile ({errors(self.proc)})"]
        leaf: dict[str, int] = {}
        incl: dict[str, int] = {}
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            if not count.isdigit() or any(frames[-1].startswith(i) for i in IDLE):
                continue
            n = int(count)
            total += n
            leaf[frames[-1]] = leaf.get(frames[-1], 0) + n
            for f in {f for f in frames if re.search(r"\((synthesizer|servers|registry)/", f)}:
                incl[f] = incl.get(f, 0) + n
        lines = [f"{title}: {total} samples with the GIL held (200/s); leaf frames:"]
        lines += [f"  {c / total:6.1%}  {f}" for f, c in sorted(leaf.items(), key=lambda x: -x[1])[:top]]
        lines.append("  project frames, inclusive:")
        lines += [f"  {c / total:6.1%}  {f}" for f, c in sorted(incl.items(), key=lambda x: -x[1])[:top * 2]]
        return lines


# --- runs --------------------------------------------------------------------------------------------------------

def run_synth(farm: str, farm_pid: int, n: int, concurrency: int, out: Path, roles: list[str],
              others: tuple[int, ...] = ()) -> dict[str, Any]:
    """One `synthesize` call; wall seconds, the summary's figures, and CPU seconds of this process, the farm's
    process tree, and any `others` (the scripted LLM)."""
    from synthesizer.run import SynthConfig, synthesize

    config = SynthConfig(farm=farm, farm_token=TOKEN, n=n, concurrency=concurrency, progress=False, out=out,
                         model_roles=roles)
    calls0, errors0 = farm_calls(farm)
    cpu0, farm0, other0 = time.process_time(), tree_cpu(farm_pid), sum(tree_cpu(p) for p in others)
    started = time.perf_counter()
    summary = asyncio.run(synthesize(config))
    wall = time.perf_counter() - started
    cpu, farm_cpu = time.process_time() - cpu0, tree_cpu(farm_pid) - farm0
    other_cpu = sum(tree_cpu(p) for p in others) - other0
    calls, errors = farm_calls(farm)
    new = summary.new
    return {"wall": wall, "new": new, "rate": new / wall, "attempts": summary.attempts, "rejected": summary.rejected,
            "cpu": cpu, "farm_cpu": farm_cpu, "other_cpu": other_cpu, "per": max(new, 1), "calls": calls - calls0,
            "call_errors": errors - errors0}


def mix(rejected: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(rejected.items(), key=lambda kv: -kv[1])) or "none"


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def run_detail(r: dict[str, Any]) -> str:
    """Attempts, the farm's tool calls, the rejection mix; CPU per trajectory and the ceiling it sets (every core
    busy with this work and nothing else)."""
    ms = (r["cpu"] + r["farm_cpu"] + r["other_cpu"]) / r["per"] * 1e3
    ceiling = (os.cpu_count() or 1) / (ms / 1e3) if ms else float("inf")
    other = f" + LLM {r['other_cpu'] / r['per'] * 1e3:.0f}" if r["other_cpu"] else ""
    return (f"{r['new']} in {r['wall']:.1f} s; attempts {r['attempts']} ({r['attempts'] / r['per']:.1f}/trajectory);"
            f" farm tool calls {r['calls'] / r['per']:.1f}/trajectory ({r['call_errors'] / r['per']:.1f} isError); "
            f"rejected: {mix(r['rejected'])}\n"
            f"CPU/trajectory {ms:.0f} ms (synth {r['cpu'] / r['per'] * 1e3:.0f} + farm "
            f"{r['farm_cpu'] / r['per'] * 1e3:.0f}{other}): CPU ceiling {ceiling:.1f}/s on {os.cpu_count()} cores; "
            f"used {(r['cpu'] + r['farm_cpu'] + r['other_cpu']) / r['wall'] / (os.cpu_count() or 1):.0%} of them")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke run, under a minute)")
    parser.add_argument("--n", type=int, default=200, help="trajectories per offline run")
    parser.add_argument("--model-n", type=int, default=256, help="trajectories of the model-bound run at C=64")
    parser.add_argument("--workers", type=int, default=None, help="farm worker processes (default: the farm's)")
    parser.add_argument("--profile", type=Path, help="py-spy the synthesizer and the farm during the C=16 offline "
                                                     "run; raw stacks go to this directory, a summary is printed")
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

    began, load0 = time.perf_counter(), loadavg()
    rows: list[tuple[str, str, str]] = []
    profiles: list[str] = []
    try:
        farm, url = start_farm(args.workers)
        with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
            setup = run_synth(url, farm.pid, 0, 1, Path(tmp) / "setup", [])
            rows.append(("synthesize() setup: discovery, tool graph, schedule (n=0)", f"{setup['wall']:.2f} s",
                         "included in every run below"))
            best = 0.0
            for c in (1, 4, 16):
                spies = []
                if args.profile and c == 16:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    spies = [(Profiler(os.getpid(), args.profile / "synth.txt"), "synthesizer (this process)"),
                             (Profiler(farm.pid, args.profile / "farm.txt", subprocesses=True), "farm (process tree)")]
                    time.sleep(1)
                r = run_synth(url, farm.pid, args.n, c, Path(tmp) / f"offline-c{c}", [])
                for spy, title in spies:
                    spy.stop()
                    profiles += spy.summary(title)
                best = max(best, r["rate"])
                rows.append((f"1. offline roles, concurrency {c}", f"{r['rate']:.1f} traj/s", run_detail(r)))
            rows.append(("1. goal: >= 20 verified trajectories/s", f"{best:.1f} traj/s",
                         "goal met" if best >= 20 else "not met"))

            llm, llm_url = start_llm()
            os.environ.update({"ENVFACTORY_LLM_BASE_URL": f"{llm_url}/v1", "ENVFACTORY_LLM_API_KEY": "bench",
                               "ENVFACTORY_LLM_MODEL": "scripted", "ENVFACTORY_LLM_MAX_RETRIES": "0"})
            ratios: dict[int, float] = {}
            for c, n in ((64, args.model_n), (4, max(16, args.model_n // 4))):
                before = llm_requests(llm_url)
                r = run_synth(url, farm.pid, n, c, Path(tmp) / f"model-c{c}", MODEL_ROLES, (llm.pid,))
                requests = llm_requests(llm_url) - before
                per = requests / r["per"]
                bound = c / (per * LATENCY)
                beyond = c / r["rate"] - per * LATENCY if r["rate"] else float("nan")
                ratios[c] = r["rate"] / bound
                rows.append((f"2. model-bound, concurrency {c}: achieved / bound C / (R x {LATENCY:g} s)"
                             + (" (goal >= 90%)" if c == 64 else " (for comparison)"),
                             f"{r['rate'] / bound:.0%}: {r['rate']:.1f} of {bound:.1f} traj/s",
                             f"R = {requests} requests / {r['new']} trajectories = {per:.2f}; per-sample time "
                             f"beyond the model {beyond:.2f} s (C / rate - R x latency)\n" + run_detail(r)))
            stop(llm)
            rows.append(("2. goal: achieved / bound >= 90% at concurrency 64", f"{ratios[64]:.0%}",
                         "goal met" if ratios[64] >= 0.9 else "not met"))
    finally:
        stop_all()

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"synthesis benchmark ({os.cpu_count()} CPUs, load average {load0} at start and "
                        f"{loadavg()} at end, {time.perf_counter() - began:.0f} s)")
    for col in ("measure", "result", "detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console = Console(width=160)
    console.print(table)
    for line in profiles:
        console.print(line, markup=False, highlight=False)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
