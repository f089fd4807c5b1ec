"""Executes an environment: loads env.py, builds States from scenarios, and runs validated tool calls on episodes.

Everything generic lives here once (argument and output validation, atomic writes, error mapping, timeouts), so an
environment's env.py stays a small set of pure functions over its State.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from pydantic import BaseModel, Field, ValidationError

from common.errors import EnvfactoryError
from registry.contract import EnvState, ToolError, state_hash
from registry.envdir import EnvDir, EnvLoadError, load_env_dir
from registry.spec import ToolSpec
from servers.runtime.sandbox import env_line, load_guarded

log = logging.getLogger("envfactory.runtime")

DEFAULT_CALL_TIMEOUT = 5.0


class CallTimeout(EnvfactoryError):
    """A tool ran past its time limit."""


class CallOutcome(BaseModel):
    is_error: bool
    output: dict[str, Any] | None = None
    error: str | None = None
    internal: bool = False  # True when the error is the environment's bug, not the caller's mistake
    invalid_arguments: bool = False  # rejected by the input schema (or unknown tool) before any code ran
    timed_out: bool = False  # interrupted by the per-call time limit (internal too: an infinite loop, most likely)
    detail: str | None = Field(default=None, exclude=True)  # why an internal error happened; never sent to clients

    @property
    def domain_error(self) -> bool:
        """A ToolError raised by the environment itself."""
        return self.is_error and not self.internal and not self.invalid_arguments

    def text(self) -> str:
        if self.is_error:
            return self.error or "error"
        return json.dumps(self.output, ensure_ascii=False)


@dataclass
class Episode:
    """One isolated run of an environment: its State, where it started, and the journal of state-changing calls."""

    id: str
    scenario: str
    state: EnvState
    journal: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _hashed: tuple[EnvState, str] | None = field(default=None, repr=False, compare=False)

    @property
    def state_hash(self) -> str:
        """Cached per State object: a write always installs a new State (calls run on a copy) and a read never
        mutates one (the verifier proves it), so the hash changes exactly when the object does."""
        if self._hashed is None or self._hashed[0] is not self.state:
            self._hashed = (self.state, state_hash(self.state))
        return self._hashed[1]


def format_schema_error(tool: str, errors: Iterator[Any], what: str = "Invalid arguments for") -> str | None:
    err = best_match(errors)
    if err is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
    return f"{what} {tool}: {('at ' + where + ': ') if where else ''}{err.message}"


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt pure-Python code that runs too long, where a signal can reach it (main thread on Unix)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if seconds is None or seconds <= 0 or not usable:
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise CallTimeout(f"timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_module(env_dir: EnvDir) -> ModuleType:
    """Import env.py (guarded, see servers/runtime/sandbox.py) under a private name: each load is a fresh module."""
    return load_guarded(env_dir, f"envfactory_env_{env_dir.name}_{id(env_dir):x}")


class EnvRuntime:
    """An environment ready to run: its spec, its State model, its tool functions and its scenarios."""

    def __init__(self, env_dir: EnvDir, module: ModuleType, call_timeout: float | None = DEFAULT_CALL_TIMEOUT):
        self.env_dir = env_dir
        self.spec = env_dir.spec
        self.module = module
        self.call_timeout = call_timeout
        state_cls = getattr(module, "State", None)
        if not (isinstance(state_cls, type) and issubclass(state_cls, EnvState)):
            raise EnvLoadError(f"{env_dir.code_path}: must define `class State(EnvState)`")
        self.state_cls: type[EnvState] = state_cls
        self.tools: dict[str, ToolSpec] = {t.name: t for t in self.spec.tools}
        self.functions: dict[str, Callable[..., Any]] = {}
        for name in self.tools:
            fn = getattr(module, name, None)
            if not callable(fn):
                raise EnvLoadError(f"{env_dir.code_path}: no function for tool {name!r}")
            self.functions[name] = fn
        checker = Draft202012Validator.FORMAT_CHECKER  # `format` (email, date, ...) is enforced on arguments
        self._in = {n: Draft202012Validator(t.input_schema, format_checker=checker) for n, t in self.tools.items()}
        self._out = {n: Draft202012Validator(t.output_schema) for n, t in self.tools.items()}

    @classmethod
    def load(cls, path: Path | str, call_timeout: float | None = DEFAULT_CALL_TIMEOUT) -> EnvRuntime:
        env_dir = load_env_dir(path)
        return cls(env_dir, load_module(env_dir), call_timeout=call_timeout)

    @property
    def name(self) -> str:
        return self.spec.name

    def signature_problems(self) -> list[str]:
        """Mismatches between each tool function's signature and its input schema."""
        problems = []
        for name, fn in self.functions.items():
            schema = self.tools[name].input_schema
            props = set(schema.get("properties", {}))
            required = set(schema.get("required", []))
            params = list(inspect.signature(fn).parameters.values())
            if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
                problems.append(f"{name}: first parameter must be the state")
                continue
            args = {p.name: p for p in params[1:]}
            if set(args) != props:
                missing, extra = sorted(props - set(args)), sorted(set(args) - props)
                problems.append(f"{name}: parameters differ from input_schema (missing {missing}, extra {extra})")
                continue
            for pname, p in args.items():
                has_default = p.default is not inspect.Parameter.empty
                if pname in required and has_default:
                    problems.append(f"{name}: required parameter {pname!r} has a default")
                if pname not in required and not has_default:
                    problems.append(f"{name}: optional parameter {pname!r} has no default")
        return problems

    def build_state(self, data: dict[str, Any]) -> EnvState:
        try:
            return self.state_cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise EnvLoadError(f"state does not match the State model at {loc}: {first['msg']}") from exc

    def scenario_state(self, scenario: str | None = None) -> EnvState:
        name = scenario or self.spec.initial_scenario
        if name not in self.env_dir.scenarios:
            raise EnvLoadError(f"unknown scenario {name!r} for {self.name} (known: {', '.join(self.spec.scenarios)})")
        try:
            return self.build_state(self.env_dir.scenarios[name].state)
        except EnvLoadError as exc:
            raise EnvLoadError(f"scenario {name!r} of {self.name}: {exc}") from exc

    def new_episode(self, episode_id: str, scenario: str | None = None) -> Episode:
        name = scenario or self.spec.initial_scenario
        return Episode(id=episode_id, scenario=name, state=self.scenario_state(name))

    def call(self, episode: Episode, tool: str, arguments: dict[str, Any] | None) -> CallOutcome:
        """Run one tool call. Writes are atomic: the episode's State changes only if the call succeeds."""
        if tool not in self.tools:
            return CallOutcome(is_error=True, error=f"Unknown tool: {tool}", invalid_arguments=True)
        args = dict(arguments or {})
        problem = format_schema_error(tool, self._in[tool].iter_errors(args))
        if problem:
            return CallOutcome(is_error=True, error=problem, invalid_arguments=True)
        read_only = self.tools[tool].annotations.read_only_hint
        work = episode.state if read_only else episode.state.model_copy(deep=True)
        try:
            with time_limit(self.call_timeout):
                output = self.functions[tool](work, **args)
        except ToolError as exc:
            return CallOutcome(is_error=True, error=exc.message)
        except CallTimeout as exc:
            log.error("%s.%s %s", self.name, tool, exc)
            return CallOutcome(is_error=True, error=f"Tool {tool} {exc}", internal=True, timed_out=True,
                               detail=f"{tool}: {exc}")
        except Exception as exc:
            log.exception("%s.%s raised an unexpected exception", self.name, tool)
            detail = f"{type(exc).__name__}: {str(exc)[:160]}{env_line(exc, self.env_dir.code_path)}"
            return CallOutcome(is_error=True, error=f"Internal error in tool {tool}", internal=True, detail=detail)
        if isinstance(output, BaseModel):
            output = output.model_dump(mode="json")
        try:
            output = json.loads(json.dumps(output, allow_nan=False))
        except (TypeError, ValueError):
            detail = f"returned a {type(output).__name__} that is not JSON-serialisable"
            log.error("%s.%s %s", self.name, tool, detail)
            return CallOutcome(is_error=True, error=f"Internal error in tool {tool}", internal=True, detail=detail)
        problem = format_schema_error(tool, self._out[tool].iter_errors(output), "Output of")
        if problem:
            log.error("%s.%s output violates its output_schema: %s", self.name, tool, problem)
            return CallOutcome(is_error=True, error=f"Internal error in tool {tool}", internal=True, detail=problem)
        if not read_only:
            episode.state = work
            episode.journal.append((tool, args))
        return CallOutcome(is_error=False, output=output)


class EpisodeStore:
    """Episodes of one environment keyed by id, oldest evicted first beyond `capacity` (a bound on memory)."""

    PLAYGROUND = "playground"

    def __init__(self, runtime: EnvRuntime, capacity: int = 1024):
        self.runtime = runtime
        self.capacity = capacity
        self._episodes: OrderedDict[str, Episode] = OrderedDict()

    def get(self, episode_id: str | None, scenario: str | None = None) -> Episode:
        """The named episode, created from `scenario` (or the default) the first time it is named."""
        key = episode_id or self.PLAYGROUND
        episode = self._episodes.get(key)
        if episode is None:
            episode = self.runtime.new_episode(key, scenario)
            self._episodes[key] = episode
            while len(self._episodes) > self.capacity:
                self._episodes.popitem(last=False)
        else:
            self._episodes.move_to_end(key)
        return episode

    def __len__(self) -> int:
        return len(self._episodes)

    def __contains__(self, episode_id: object) -> bool:
        return episode_id in self._episodes
