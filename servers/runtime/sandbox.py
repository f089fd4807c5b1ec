"""Loading env.py with a second line of defence behind the static policy: restricted builtins, guarded imports.

The static check (servers/runtime/policy.py) rejects forbidden code before it ever runs; this guard holds at run time
too, for code the AST cannot see (strings pydantic evaluates as annotations, say). Every process that executes
environment code loads it through here: the verifier's worker, stand-alone servers, the farm's workers. A child
started only to run untrusted env code (the verifier's worker, its protocol launcher, the factory's State-schema probe)
also calls `apply_limits` first.
"""

from __future__ import annotations

import builtins
import dis
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from registry.envdir import EnvDir, EnvLoadError
from servers.runtime.policy import FORBIDDEN_BUILTINS, module_allowed, project_import_allowed

_IMPORT_NAME = dis.opmap["IMPORT_NAME"]
_ENV_FILES: set[str] = set()
MEMORY_LIMIT = 2 * 1024**3
"""Address-space ceiling (bytes) of a child running untrusted env code."""
CPU_LIMIT = 120
"""CPU seconds of such a child; its parent adds a wall-clock timeout."""


def apply_limits() -> None:
    """Memory and CPU ceilings for this process, before it loads untrusted env code."""
    try:
        import resource  # Unix only

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT + 10))
    except (ImportError, ValueError, OSError):  # not Unix, or limits already lower: keep what we have
        pass


def guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    """`__import__` for env.py: the static allow-list again at run time (also covers forward-ref eval).

    C code imports lazily through the calling frame's builtins (datetime.strptime imports `_strptime`, strftime
    imports `time`); such a call comes from an env.py frame that is not executing an `import` statement, and is
    let through. Code compiled elsewhere (strings evaluated by pydantic, say) always meets the allow-list.
    """
    caller = sys._getframe(1)
    code = caller.f_code
    if code.co_filename in _ENV_FILES and code.co_code[caller.f_lasti] != _IMPORT_NAME:
        return builtins.__import__(name, globals, locals, fromlist, level)
    allowed = level == 0 and (module_allowed(name) or (
        bool(fromlist) and all(module_allowed(f"{name}.{f}") for f in fromlist) and name != "registry"
    ) or (name == "registry" and bool(fromlist) and project_import_allowed(name, fromlist)))
    if not allowed:
        raise ImportError(f"import of {name!r} is not allowed in env.py")
    return builtins.__import__(name, globals, locals, fromlist, level)


def safe_builtins() -> dict[str, Any]:
    keep = {k: v for k, v in vars(builtins).items() if k not in FORBIDDEN_BUILTINS or k == "__build_class__"}
    keep["__import__"] = guarded_import
    return keep


def env_line(exc: BaseException, code_path: Path) -> str:
    """" at env.py:LINE" for the innermost env.py frame of a traceback, or ""."""
    line = ""
    target = code_path.resolve()
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == target:
            line = f" at env.py:{frame.lineno}"
    return line


def load_guarded(env_dir: EnvDir, module_name: str) -> ModuleType:
    """Import env.py under `module_name` with restricted builtins and the guarded import."""
    spec = importlib.util.spec_from_file_location(module_name, env_dir.code_path)
    if spec is None or spec.loader is None:
        raise EnvLoadError(f"{env_dir.code_path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    _ENV_FILES.add(str(env_dir.code_path))
    module.__dict__["__builtins__"] = safe_builtins()
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit/KeyboardInterrupt from untrusted code are load failures too
        sys.modules.pop(module_name, None)
        raise EnvLoadError(f"env.py: import failed: {type(exc).__name__}: {exc}"
                           f"{env_line(exc, env_dir.code_path)}") from exc
    return module
