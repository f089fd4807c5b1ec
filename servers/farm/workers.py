"""`ProcessBackend`: episodes held and executed in worker processes, so environment code never runs in the farm.

Protocol. Each episode lives on one worker, chosen by a stable hash of its id (blake2b % workers). A worker is a
`spawn`ed process with an address-space limit (RLIMIT_AS); it loads environments lazily through the guarded loader,
holds `{episode_id: (env, Episode)}` and serves requests strictly one at a time, in order. Messages are JSON over a
`multiprocessing.Pipe` (never pickle: the parent must not unpickle bytes that untrusted code could have written):
`[seq, op, episode_id, *args]` in, `[seq, status, payload]` out, status one of ok / missing / load_error / error.

In the parent, one thread per worker slot owns that worker's pipe: it takes the next request from the slot's FIFO,
sends it, waits for the reply with a deadline and settles the request's asyncio future through
`loop.call_soon_threadsafe`; the event loop never blocks on a pipe. Only one request is in flight per worker, so
a pipe never fills and a hung worker cannot stall the sender.

Failure semantics. Two lines of defence against code that does not return: SIGALRM inside the worker turns a
pure-Python loop into an ordinary error result (`Tool spin timed out after 5 s`, the worker keeps its episodes); a
loop inside one C call ignores signals, so the slot thread SIGKILLs a worker whose request is still running
`call_timeout + 1 s` after it was sent. Whenever a worker dies (killed, segfault, `os._exit`, out of memory):
  - the request it was executing fails with `BackendFailure` saying what happened; the call was not applied (the
    manager journals only results it received) and the episode is rebuilt from its journal on its next use;
  - a fresh worker is spawned in the same slot at once, and the requests queued behind run on it: calls and dumps
    answer `EpisodeMissing` (the new worker holds nothing), so the manager replays those episodes' journals and
    retries; loads and drops simply run there. Nothing queued is lost and nothing is applied twice.
A worker can also lose an episode between the manager's rebuild and its retried call (a neighbour crashed the
worker in between); the backend remembers the last load of each episode until its next request succeeds and
replays it itself, so a hostile environment fails only its own calls. A caller cancelled before its call was sent
skips it; one cancelled after makes the backend drop that episode on its worker, so the State the manager never
journaled is rebuilt from the journal instead of drifting ahead of it.

Workers are `spawn`ed (no inherited sockets, locks or threads from the farm), so the program's main module must be
import-safe (`if __name__ == "__main__":`), as with any spawn-based pool; console scripts and uvicorn are.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from common.errors import EnvfactoryError
from registry.contract import canonical_json
from registry.envdir import EnvDir, EnvLoadError
from servers.farm.episodes import BackendFailure, CallResult, EpisodeMissing, JournalEntry, execute_call, materialize
from servers.runtime.runtime import EnvRuntime, Episode, load_module

log = logging.getLogger("envfactory.workers")

DEFAULT_MEMORY_LIMIT = 2 * 1024**3
WATCHDOG_GRACE = 1.0
"""Seconds past `call_timeout` before a worker is killed: SIGALRM should have answered by then."""
STARTUP_TIMEOUT = 60.0
MAX_MESSAGE_BYTES = 512 * 1024**2
"""Largest reply accepted from a worker; anything bigger is treated as a crash (a worker must not exhaust us)."""
RELOAD_ATTEMPTS = 3


# --- worker process --------------------------------------------------------------------------------------------
class _Missing(EnvfactoryError):
    pass


def _apply_memory_limit(limit: int) -> None:
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # hard too: escaped code cannot raise it back
    except (ImportError, ValueError, OSError) as exc:  # not Unix, or not permitted: run without the ceiling
        log.warning("worker %d runs without a memory limit: %s", os.getpid(), exc)


class HeldEpisodes:
    """A worker's episodes: the most recently used live (pydantic States), the rest as compressed canonical JSON.

    Live States cost ~10x their JSON (pydantic objects, per-record dicts); thousands of idle episodes fit in memory
    only as bytes. A cold episode is rebuilt on its next use and its hash recomputed from the rebuilt State, so the
    hash the farm reports is always the hash of the State that runs.
    """

    def __init__(self, hot_capacity: int):
        self.hot_capacity = max(1, hot_capacity)
        self.hot: OrderedDict[str, tuple[str, Episode]] = OrderedDict()
        self.cold: dict[str, tuple[str, bytes]] = {}

    def __len__(self) -> int:
        return len(self.hot) + len(self.cold)

    def get(self, episode_id: str, runtime_for: Callable[[str], EnvRuntime]) -> tuple[str, Episode]:
        if episode_id in self.hot:
            self.hot.move_to_end(episode_id)
            return self.hot[episode_id]
        if episode_id not in self.cold:
            raise _Missing(episode_id)
        env, blob = self.cold.pop(episode_id)
        state = runtime_for(env).build_state(json.loads(zlib.decompress(blob)))
        return self.put(episode_id, env, Episode(id=episode_id, scenario="", state=state))

    def put(self, episode_id: str, env: str, episode: Episode) -> tuple[str, Episode]:
        self.cold.pop(episode_id, None)
        self.hot[episode_id] = (env, episode)
        self.hot.move_to_end(episode_id)
        while len(self.hot) > self.hot_capacity:
            old_id, (old_env, old) = self.hot.popitem(last=False)
            data = canonical_json(old.state.model_dump(mode="json")).encode()
            self.cold[old_id] = (old_env, zlib.compress(data, 1))
        return self.hot[episode_id]

    def drop(self, episode_id: str) -> None:
        self.hot.pop(episode_id, None)
        self.cold.pop(episode_id, None)


def worker_main(conn: Connection, envs: dict[str, EnvDir], call_timeout: float, memory_limit: int,
                hot_episodes: int = 512) -> None:
    """Entry point of a worker process: serve requests one at a time until the parent closes the pipe."""
    _apply_memory_limit(memory_limit)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # own process group: killing the worker also kills whatever escaped code spawned
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent closes us
    logging.basicConfig(level=logging.WARNING, format=f"envfactory-worker[{os.getpid()}] %(name)s: %(message)s")

    runtimes: dict[str, EnvRuntime] = {}
    episodes = HeldEpisodes(hot_episodes)

    def runtime(env: str) -> EnvRuntime:
        if env not in runtimes:
            if env not in envs:
                raise EnvLoadError(f"this farm does not host environment {env!r}")
            runtimes[env] = EnvRuntime(envs[env], load_module(envs[env]), call_timeout)
        return runtimes[env]

    def held(episode_id: str) -> tuple[str, Episode]:
        return episodes.get(episode_id, runtime)

    def handle(op: str, episode_id: str, args: list[Any]) -> Any:
        if op == "call":
            env, episode = held(episode_id)
            tool, arguments, max_state_bytes = args
            result = execute_call(runtime(env), episode, tool, arguments, max_state_bytes)
            episode.journal.clear()  # the manager keeps the journal; a second copy here would only cost memory
            return {**result.model_dump(mode="json"), "detail": result.detail}
        if op == "load":
            env, state, journal = args
            episode = materialize(runtime(env), episode_id, state, [(t, a) for t, a in journal])
            episode.journal.clear()
            episodes.put(episode_id, env, episode)
            return episode.state_hash
        if op == "dump":
            _, episode = held(episode_id)
            return [episode.state.model_dump(mode="json"), episode.state_hash]
        if op == "drop":
            episodes.drop(episode_id)
            return None
        raise ValueError(f"unknown request {op!r}")

    conn.send_bytes(json.dumps([0, "ready", os.getpid()]).encode())
    while True:
        try:
            seq, op, episode_id, *args = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        try:
            status, payload = "ok", handle(op, episode_id, args)
        except _Missing:
            status, payload = "missing", None
        except EnvLoadError as exc:
            status, payload = "load_error", str(exc)
        except BaseException as exc:  # SystemExit & co. from env code fail the request, not the worker
            status, payload = "error", f"{type(exc).__name__}: {str(exc)[:300]}"
        try:
            reply = json.dumps([seq, status, payload], allow_nan=False)
        except (TypeError, ValueError) as exc:
            reply = json.dumps([seq, "error", f"reply is not JSON-serialisable: {exc}"])
        try:
            conn.send_bytes(reply.encode())
        except OSError:  # the parent is gone
            return


# --- parent side -----------------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Request:
    op: str
    episode_id: str
    args: list[Any]
    what: str  # for messages: "bump", "loading episode ep_x", ...
    timeout: float  # watchdog deadline, seconds after sending
    future: asyncio.Future[Any] | None
    state: str = "queued"  # queued -> sent -> done, or queued -> abandoned (its caller was cancelled)
    sent_at: float = 0.0


@dataclass(eq=False)
class _Slot:
    index: int
    process: BaseProcess | None = None
    conn: Connection | None = None
    pid: int | None = None
    restarts: int = 0
    queue: deque[_Request] = field(default_factory=deque)
    current: _Request | None = None
    held: set[str] = field(default_factory=set)
    cond: threading.Condition = field(default_factory=threading.Condition)
    thread: threading.Thread | None = None


class _Dead(EnvfactoryError):
    """The worker died (or misbehaved and was killed) while serving a request."""

    def __init__(self, description: str, timed_out: bool = False):
        super().__init__(description)
        self.description = description
        self.timed_out = timed_out


def _kill(process: BaseProcess | None) -> None:
    """SIGKILL a worker and its process group (anything escaped code forked), by pid, never by name."""
    if process is None or process.pid is None:
        return
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        process.kill()


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"exit code {code}, killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class ProcessBackend:
    """The `Backend` protocol over `workers` worker processes; see the module docstring for the semantics."""

    def __init__(self, envs: dict[str, EnvDir], workers: int | None = None, call_timeout: float = 5.0,
                 memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT, hot_episodes: int = 512):
        self.envs = envs
        self.hot_episodes = hot_episodes
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.call_timeout = call_timeout
        self.memory_limit_bytes = memory_limit_bytes
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(self.workers)]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._seq = 0
        self._seq_lock = threading.Lock()
        # last load of each episode, kept until its next request succeeds (see the module docstring)
        self._reloads: dict[str, tuple[str, dict[str, Any], list[JournalEntry]]] = {}
        self._start_lock = asyncio.Lock()

    # --- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Spawn every worker and wait until each is ready (idempotent; the first request starts them too)."""
        async with self._start_lock:
            if self._loop is not None:
                return
            if self._closing:
                raise BackendFailure("the worker pool is closed")
            try:
                await asyncio.to_thread(self._spawn_all)
            except BaseException:
                await asyncio.to_thread(self._stop_all)  # no half-started pool
                raise
            self._loop = asyncio.get_running_loop()
            for slot in self._slots:
                slot.thread = threading.Thread(target=self._serve, args=(slot,), daemon=True,
                                               name=f"envfactory-worker-{slot.index}")
                slot.thread.start()

    def _spawn_all(self) -> None:
        pending = [self._launch(slot) for slot in self._slots]
        for slot, child in zip(self._slots, pending, strict=True):
            self._await_ready(slot, child)

    def _launch(self, slot: _Slot) -> Connection:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=worker_main, name=f"envfactory-worker-{slot.index}", daemon=True,
                                    args=(child, self.envs, self.call_timeout, self.memory_limit_bytes,
                                          self.hot_episodes))
        process.start()
        slot.process, slot.conn, slot.pid = process, parent, process.pid
        return child

    def _await_ready(self, slot: _Slot, child: Connection) -> None:
        child.close()  # keep only the worker's copy of its end, so its death reads as EOF here
        assert slot.conn is not None
        try:
            if slot.conn.poll(STARTUP_TIMEOUT):
                seq, status, pid = json.loads(slot.conn.recv_bytes(1024))
                if status == "ready":
                    return
        except (EOFError, OSError, ValueError):
            pass
        code = self._reap(slot)
        raise BackendFailure(f"worker {slot.index} failed to start ({describe_exit(code)})")

    def _reap(self, slot: _Slot) -> int | None:
        """Make sure the slot's process is gone; returns its exit code."""
        process = slot.process
        if process is None:
            return None
        _kill(process)  # before reaping, so its pid (the group's id) cannot have been reused
        process.join(5)
        if slot.conn is not None:
            slot.conn.close()
        return process.exitcode

    def _restart(self, slot: _Slot) -> None:
        self._reap(slot)
        with slot.cond:
            slot.held.clear()
            slot.restarts += 1
        if self._closing:
            return
        child = self._launch(slot)
        self._await_ready(slot, child)
        if self._closing:  # close() ran while this worker was starting
            self._reap(slot)
            return
        log.warning("worker %d restarted as pid %s (restart #%d)", slot.index, slot.pid, slot.restarts)

    async def close(self) -> None:
        """Fail whatever is queued, stop every worker (SIGTERM, then SIGKILL) and the slot threads."""
        if self._closing:
            return
        self._closing = True
        for slot in self._slots:
            with slot.cond:
                dropped = list(slot.queue)
                slot.queue.clear()
                slot.cond.notify_all()
            for req in dropped:
                self._settle(req, BackendFailure("the farm is shutting down"))
        await asyncio.to_thread(self._stop_all)
        self._reloads.clear()

    def _stop_all(self) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.pid is not None:
                with contextlib.suppress(OSError):
                    os.killpg(slot.process.pid, signal.SIGTERM)
                with contextlib.suppress(OSError):
                    slot.process.terminate()
        for slot in self._slots:
            if slot.process is not None:
                slot.process.join(2)
                if slot.process.exitcode is None:
                    _kill(slot.process)
                    slot.process.join(2)
            if slot.thread is not None:
                slot.thread.join(5)
            if slot.conn is not None:
                slot.conn.close()

    # --- routing -----------------------------------------------------------------------------------------------
    def shard(self, episode_id: str) -> int:
        """The worker slot that holds `episode_id` (stable across processes and restarts)."""
        digest = hashlib.blake2b(episode_id.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.workers

    def stats(self) -> dict[str, Any]:
        workers = []
        for slot in self._slots:
            with slot.cond:
                current = slot.current
                workers.append({
                    "slot": slot.index, "pid": slot.pid, "restarts": slot.restarts,
                    "in_flight": len(slot.queue) + (current is not None),
                    "episodes": len(slot.held),
                    "running": None if current is None else {
                        "op": current.op, "episode": current.episode_id, "what": current.what,
                        "seconds": round(time.monotonic() - current.sent_at, 3)},
                })
        return {"workers": workers, "restarts": sum(w["restarts"] for w in workers),
                "episodes": sum(w["episodes"] for w in workers)}

    async def _request(self, op: str, episode_id: str, args: list[Any], what: str, timeout: float) -> Any:
        if self._loop is None:
            await self.start()
        if self._closing:
            raise BackendFailure("the farm is shutting down")
        assert self._loop is not None
        slot = self._slots[self.shard(episode_id)]
        req = _Request(op, episode_id, args, what, timeout, self._loop.create_future())
        with slot.cond:
            slot.queue.append(req)
            slot.cond.notify()
        try:
            return await req.future  # type: ignore[misc]
        except asyncio.CancelledError:
            with slot.cond:
                if req.state == "queued":
                    req.state = "abandoned"  # never sent: the slot thread skips it
                elif op == "call":
                    # It ran (or is running) but its caller will never journal the result: forget the episode on
                    # the worker so its next use rebuilds it from the manager's journal, the truth.
                    slot.queue.append(_Request("drop", episode_id, [], "drop", self._timeout(), None))
                    slot.cond.notify()
            raise

    def _timeout(self, load: bool = False, replays: int = 0) -> float:
        """Watchdog deadline: one call's alarm plus grace; a load may import env.py and replays a whole journal."""
        return self.call_timeout * (1 + load + replays) + WATCHDOG_GRACE

    # --- the slot thread ---------------------------------------------------------------------------------------
    def _serve(self, slot: _Slot) -> None:
        while True:
            with slot.cond:
                while not slot.queue and not self._closing:
                    slot.cond.wait()
                if self._closing:
                    return
                req = slot.queue.popleft()
                if req.state == "abandoned":
                    continue
                req.state, req.sent_at = "sent", time.monotonic()
                slot.current = req
            try:
                outcome = self._exchange(slot, req)
            except BackendFailure as exc:  # no worker could be started in this slot
                outcome = exc
            except Exception as exc:  # a bug here must fail one request, never the slot
                log.exception("worker slot %d failed on %s", slot.index, req.what)
                outcome = BackendFailure(f"internal error of the worker pool while running {req.what}: {exc}")
            with slot.cond:
                slot.current, req.state = None, "done"
            self._settle(req, outcome)

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def _exchange(self, slot: _Slot, req: _Request) -> Any:
        """Run one request on the slot's worker; returns its value or the exception to raise to the caller."""
        if slot.conn is None or slot.conn.closed or slot.conn.poll(0):
            # the worker died while idle (or wrote unasked): replace it without blaming this request
            self._restart(slot)
        seq = self._next_seq()
        try:
            reply = self._roundtrip(slot, seq, req)
        except _Dead as dead:
            self._restart(slot)
            if self._closing:
                return BackendFailure("the farm is shutting down")
            if dead.timed_out:
                return BackendFailure(f"The environment timed out after {self.call_timeout:g} s while running "
                                      f"{req.what} and did not respond to the interrupt; its worker was killed and "
                                      "restarted, and the call was not applied")
            return BackendFailure(f"The environment crashed while running {req.what} ({dead.description}); the "
                                  "call was not applied and the worker was restarted")
        return self._interpret(slot, req, reply)

    def _roundtrip(self, slot: _Slot, seq: int, req: _Request) -> Any:
        conn = slot.conn
        assert conn is not None and slot.process is not None
        try:
            conn.send_bytes(json.dumps([seq, req.op, req.episode_id, *req.args], allow_nan=False).encode())
            if not conn.poll(req.timeout):
                _kill(slot.process)
                raise _Dead("killed by the watchdog", timed_out=True)
            data = conn.recv_bytes(MAX_MESSAGE_BYTES)
        except (EOFError, OSError):
            _kill(slot.process)  # a worker that closed its pipe but lives on is killed; a dead one keeps its code
            slot.process.join(2)
            raise _Dead(f"worker {describe_exit(slot.process.exitcode)}") from None
        try:
            got, status, payload = json.loads(data)
        except (ValueError, TypeError):
            got, status, payload = None, None, None
        if got != seq or status not in ("ok", "missing", "load_error", "error"):
            _kill(slot.process)
            raise _Dead("the worker broke the protocol and was killed")
        return status, payload

    def _interpret(self, slot: _Slot, req: _Request, reply: tuple[str, Any]) -> Any:
        status, payload = reply
        if status == "missing":
            with slot.cond:
                slot.held.discard(req.episode_id)
            return EpisodeMissing(req.episode_id)
        if status == "load_error":
            return EnvLoadError(str(payload))
        if status == "error":
            return BackendFailure(f"The environment failed while running {req.what}: {payload}; the call was "
                                  "not applied")
        try:
            if req.op == "call":
                value: Any = CallResult.model_validate(payload)
            elif req.op == "load":
                if not isinstance(payload, str):
                    raise TypeError("a load must answer a State hash")
                value = payload
            elif req.op == "dump":
                state, digest = payload
                if not (isinstance(state, dict) and isinstance(digest, str)):
                    raise TypeError("a dump must answer [State, hash]")
                value = (state, digest)
            else:
                value = payload
        except (TypeError, ValueError) as exc:
            return BackendFailure(f"The environment's worker answered {req.what} with a malformed reply ({exc})")
        with slot.cond:
            if req.op == "load":
                slot.held.add(req.episode_id)
            elif req.op == "drop":
                slot.held.discard(req.episode_id)
        return value

    def _settle(self, req: _Request, outcome: Any) -> None:
        future, loop = req.future, self._loop
        if future is None or loop is None:
            return

        def settle() -> None:
            if future.done():
                return
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle)

    # --- the Backend protocol ----------------------------------------------------------------------------------
    async def load(self, episode_id: str, env: str, state: dict[str, Any], journal: list[JournalEntry]) -> str:
        entries = [(tool, arguments) for tool, arguments in journal]
        digest: str = await self._request("load", episode_id, [env, state, entries], f"loading episode {episode_id}",
                                          self._timeout(load=True, replays=len(entries)))
        self._reloads[episode_id] = (env, state, entries)
        return digest

    async def _with_reload(self, episode_id: str, op: str, args: list[Any], what: str) -> Any:
        """Run a request; if the worker lost the episode since its last load, load it again and retry."""
        for attempt in range(RELOAD_ATTEMPTS + 1):
            try:
                value = await self._request(op, episode_id, args, what, self._timeout())
            except EpisodeMissing:
                again = self._reloads.get(episode_id)
                if again is None or attempt == RELOAD_ATTEMPTS:
                    self._reloads.pop(episode_id, None)
                    raise
                await self.load(episode_id, *again)
                continue
            except BaseException:
                self._reloads.pop(episode_id, None)
                raise
            self._reloads.pop(episode_id, None)
            return value
        raise AssertionError("unreachable")

    async def call(self, episode_id: str, tool: str, arguments: dict[str, Any], max_state_bytes: int) -> CallResult:
        result: CallResult = await self._with_reload(episode_id, "call", [tool, arguments, max_state_bytes], tool)
        return result

    async def dump(self, episode_id: str) -> tuple[dict[str, Any], str]:
        value: tuple[dict[str, Any], str] = await self._with_reload(episode_id, "dump", [],
                                                                     f"reading the State of {episode_id}")
        return value

    async def drop(self, episode_id: str) -> None:
        self._reloads.pop(episode_id, None)
        if self._closing:
            return
        await self._request("drop", episode_id, [], f"dropping {episode_id}", self._timeout())
