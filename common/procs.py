"""Starting the project's own modules as child processes: `python -m MODULE ...` with the project importable.

Untrusted environment code only ever runs in such children (the verifier's worker, the protocol check's server, the
factory's State-schema probe). They must import the same project as their parent even when it is a plain checkout
that is not installed, so the checkout's root goes first on PYTHONPATH; the root is derived once from this file's
location (common/ sits at the top of the project).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

__all__ = ["child_env", "module_argv", "project_root", "run_module"]


@cache
def project_root() -> Path:
    """The directory that holds `common/` (and every other top-level package of the project)."""
    return Path(__file__).resolve().parent.parent


def module_argv(module: str, *args: str) -> list[str]:
    """The argv that runs `module` as `__main__` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the project root first on PYTHONPATH.

    Pass `base={}` for a child whose launcher adds its own default environment (the MCP SDK's stdio client does).
    """
    source = os.environ if base is None else base
    path = os.pathsep.join(filter(None, [str(project_root()), source.get("PYTHONPATH")]))
    return {**source, "PYTHONPATH": path}


def run_module(module: str, *args: str, timeout: float, cwd: Path | str | None = None
               ) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args...` to completion, capturing text output (undecodable bytes replaced).

    Raises subprocess.TimeoutExpired when it outlives `timeout` seconds (the child is killed first).
    """
    return subprocess.run(module_argv(module, *args), capture_output=True, text=True, errors="replace",
                          timeout=timeout, env=child_env(), cwd=None if cwd is None else str(cwd), check=False)
