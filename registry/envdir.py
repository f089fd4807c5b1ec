"""Reading an environment directory (env.json, scenarios/, checks.json, report.json) without executing its code."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from pydantic import BaseModel, ValidationError

from common.errors import EnvfactoryError
from registry.contract import sha256_text
from registry.spec import CheckSuite, EnvSpec, Scenario, VerificationReport

M = TypeVar("M", bound=BaseModel)

ENV_FILES = ("env.json", "env.py", "checks.json", "server.py")


class EnvLoadError(EnvfactoryError):
    """An environment directory or one of its files is missing or malformed; the message says which and why."""


BUILTIN_ROOT = Path(__file__).resolve().parents[1] / "environments"
"""The hand-written environments: the `environments` package beside this one (a checkout's folder, or the installed
package's data). Read-only for `build`; `verify` may refresh their report.json in a checkout."""

Roots: TypeAlias = Path | Sequence[Path] | None
"""Where to look up environments: one directory, several in precedence order, or None for the catalog's roots."""


def pinned_root() -> Path | None:
    """`$ENVFACTORY_ENVS`: pins the catalog to that one directory (no built-ins), where `build` also admits.
    Tests and single-directory deployments use it."""
    pinned = os.environ.get("ENVFACTORY_ENVS")
    return Path(pinned).resolve() if pinned else None


def workspace_root() -> Path:
    """Where built environments go: `$ENVFACTORY_ENVS` when pinned, else `$ENVFACTORY_HOME` (the CLI's `--registry`),
    else `./envs` of the working directory; never the source tree or the installed package."""
    pinned, home = pinned_root(), os.environ.get("ENVFACTORY_HOME")
    if pinned:
        return pinned
    return Path(home).resolve() if home else (Path.cwd() / "envs").resolve()


def catalog_roots() -> list[Path]:
    """The catalog's directories in precedence order: the workspace, then the built-ins (unless pinned).

    A workspace directory shadows a built-in of the same name, verified or not: a name means one directory."""
    workspace = workspace_root()
    return [workspace] if pinned_root() or workspace == BUILTIN_ROOT else [workspace, BUILTIN_ROOT]


def admission_root(registry: Path | None = None) -> Path:
    """Where `build` admits: `registry` or the workspace, never the built-in environments' folder."""
    root = Path(registry).resolve() if registry else workspace_root()
    if root == BUILTIN_ROOT:
        raise EnvLoadError(f"{root} holds the built-in environments (read-only): admit into a workspace "
                           "(--registry DIR or $ENVFACTORY_HOME)")
    return root


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = "" if exc.error_count() <= 3 else f" (+{exc.error_count() - 3} more)"
    return "; ".join(parts) + more


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EnvLoadError(f"{path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise EnvLoadError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


def parse_model(model: type[M], path: Path) -> M:
    try:
        return model.model_validate(read_json(path))
    except ValidationError as exc:
        raise EnvLoadError(f"{path}: {_describe(exc)}") from exc


@dataclass
class EnvDir:
    """An environment directory as files on disk. Executing env.py is the runtime's job (servers/runtime/runtime.py)."""

    path: Path
    spec: EnvSpec
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def code_path(self) -> Path:
        return self.path / "env.py"

    def checks(self) -> CheckSuite:
        return parse_model(CheckSuite, self.path / "checks.json")

    def report(self) -> VerificationReport | None:
        path = self.path / "report.json"
        if not path.exists():
            return None
        try:
            return parse_model(VerificationReport, path)
        except EnvLoadError:
            return None

    def content_hash(self) -> str:
        """Hash of everything verification looked at; a report is current only if it carries this hash."""
        parts = []
        for rel in (*ENV_FILES, *(f"scenarios/{n}.json" for n in sorted(self.scenarios))):
            p = self.path / rel
            parts.append(f"{rel}\0{p.read_text(encoding='utf-8') if p.exists() else ''}")
        return sha256_text("\0\0".join(parts))

    def is_verified(self) -> bool:
        report = self.report()
        return bool(report and report.passed and report.env_hash == self.content_hash())


def load_env_dir(path: Path | str) -> EnvDir:
    path = Path(path).resolve()
    if not path.is_dir():
        raise EnvLoadError(f"{path}: not an environment directory")
    spec = parse_model(EnvSpec, path / "env.json")
    if spec.name != path.name:
        raise EnvLoadError(f"{path / 'env.json'}: name {spec.name!r} does not match directory {path.name!r}")
    scenarios: dict[str, Scenario] = {}
    for name in spec.scenarios:
        scenario = parse_model(Scenario, path / "scenarios" / f"{name}.json")
        if scenario.name != name:
            raise EnvLoadError(f"{path / 'scenarios' / (name + '.json')}: name {scenario.name!r} should be {name!r}")
        scenarios[name] = scenario
    if spec.default_scenario and spec.default_scenario not in scenarios:
        raise EnvLoadError(f"{path / 'env.json'}: default_scenario {spec.default_scenario!r} is not a scenario")
    return EnvDir(path=path, spec=spec, scenarios=scenarios)


def _as_roots(roots: Roots) -> list[Path]:
    if roots is None:
        return catalog_roots()
    return [roots] if isinstance(roots, Path) else list(roots)


def _names_in(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    # dot-directories are admissions in progress (servers/factory/build.py), never catalog entries
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / "env.json").is_file())


def env_dirs(roots: Roots = None) -> dict[str, Path]:
    """Each environment name and its directory, sorted by name; the first root that has a name wins."""
    found: dict[str, Path] = {}
    for root in _as_roots(roots):
        for name in _names_in(root):
            found.setdefault(name, root / name)
    return dict(sorted(found.items()))


def shadowed_dirs(roots: Roots = None) -> list[tuple[Path, Path]]:
    """(hidden, by) for every directory that a same-named one in an earlier root shadows."""
    winners = env_dirs(roots)
    return [(root / name, winners[name]) for root in _as_roots(roots) for name in _names_in(root)
            if winners[name] != root / name]


def env_names(roots: Roots = None) -> list[str]:
    return list(env_dirs(roots))


def find_env(name: str, roots: Roots = None) -> EnvDir:
    """Resolve a directory path or a catalog name (the first root that has it) to a loaded EnvDir."""
    candidate = Path(name)
    if candidate.is_dir() and (candidate / "env.json").exists():
        return load_env_dir(candidate)
    dirs = env_dirs(roots)
    if name not in dirs:
        known = ", ".join(dirs) or "none"
        raise EnvLoadError(f"unknown environment {name!r} (known: {known})")
    return load_env_dir(dirs[name])
