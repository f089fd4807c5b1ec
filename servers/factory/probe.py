"""State.model_json_schema() of generated code, computed in a child process under the sandbox's resource limits.

Generated env.py never runs in a generator's process: `probe(env_path)` starts `python -m servers.factory.probe
<env_dir>`, which loads the directory through the sandbox loader, validates every scenario against State and prints
one JSON document `{"schema": ..., "problems": [...]}` on stdout. The caller decides what a problem means (the
offline generator refuses its own output; the model generator leaves the verdict to verification).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import EnvfactoryError
from common.procs import run_module
from registry.envdir import EnvLoadError, load_env_dir
from servers.runtime.sandbox import apply_limits, load_guarded

__all__ = ["ProbeError", "ProbeTimeout", "StateProbe", "main", "probe"]

MODULE = "servers.factory.probe"
MODULE_NAME = "envfactory_state_probe"
"""The name env.py is imported under in the child."""


class ProbeError(EnvfactoryError):
    """env.py could not be loaded in the child (or the child printed no result); the message says why."""


class ProbeTimeout(ProbeError):
    """The child outlived its timeout: env.py hangs at import (a loop at module level?)."""


@dataclass
class StateProbe:
    """What the child found: State's JSON schema and the scenarios that do not validate against it."""

    schema: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def probe(env_path: Path, timeout: float) -> StateProbe:
    """Load `env_path`'s env.py in a limited child and return State's schema and the scenario problems.

    Raises ProbeTimeout when the child runs out of time, ProbeError when it fails or prints no valid result.
    """
    try:
        proc = run_module(MODULE, str(env_path), timeout=timeout, cwd=env_path)
    except subprocess.TimeoutExpired as exc:
        raise ProbeTimeout(f"loading env.py timed out after {timeout:g} s") from exc
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
        raise ProbeError(f"loading env.py failed (exit {proc.returncode}): {tail}")
    try:
        data = json.loads(proc.stdout)
        return StateProbe(schema=dict(data["schema"]), problems=[str(p) for p in data["problems"]])
    except (ValueError, TypeError, KeyError) as exc:
        raise ProbeError(f"the State probe printed no valid result: {exc}") from exc


# --- the child --------------------------------------------------------------------------------------------------

def _problems(module: Any, scenarios: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for name, scenario in scenarios.items():
        try:
            module.State.model_validate(scenario.state)
        except Exception as exc:  # untrusted validators may raise anything, not only a ValidationError
            problems.append(f"scenario {name}: {str(exc)[:300]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {MODULE} <env_dir>", file=sys.stderr)
        return 2
    apply_limits()
    out, sys.stdout = sys.stdout, sys.stderr  # env code must not corrupt the one JSON document we print
    try:
        env_dir = load_env_dir(Path(args[0]))
        module = load_guarded(env_dir, MODULE_NAME)
    except EnvLoadError as exc:
        print(f"EnvLoadError: {exc}", file=sys.stderr)
        return 1
    result = {"schema": module.State.model_json_schema(), "problems": _problems(module, env_dir.scenarios)}
    out.write(json.dumps(result))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
