"""State.model_json_schema() of generated code, computed in a child process under resource limits.

Generated code never runs in the generator's process: the child loads env.py through the sandbox loader, checks
that every scenario validates against State, and prints the schema as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[4]
TIMEOUT = 60.0

_CHILD = r"""
import json, sys
from servers.verify.worker import apply_limits
apply_limits()
from registry.envdir import load_env_dir
from servers.runtime.sandbox import load_guarded
env_dir = load_env_dir(sys.argv[1])
module = load_guarded(env_dir, "envfactory_offline_probe")
problems = []
for name, scenario in env_dir.scenarios.items():
    try:
        module.State.model_validate(scenario.state)
    except Exception as exc:
        problems.append(f"scenario {name}: {str(exc)[:300]}")
out = {"schema": module.State.model_json_schema(), "problems": problems}
sys.stdout.write(json.dumps(out))
"""


class ProbeError(Exception):
    """The generated code could not be loaded or its scenarios do not fit the State."""


def state_schema(env_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                                     os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(env_path)], capture_output=True, text=True,
                              timeout=TIMEOUT, env=env, cwd=str(env_path))
    except subprocess.TimeoutExpired as exc:
        raise ProbeError(f"loading env.py timed out after {TIMEOUT:g} s") from exc
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
        raise ProbeError(f"loading env.py failed (exit {proc.returncode}): {tail}")
    data = json.loads(proc.stdout)
    if data["problems"]:
        raise ProbeError("; ".join(data["problems"]))
    return data["schema"]
