"""Reading an environment directory (env.json, scenarios/, checks.json, report.json) without executing its code."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from registry.contract import sha256_text
from registry.spec import CheckSuite, EnvSpec, Scenario, VerificationReport

M = TypeVar("M", bound=BaseModel)

ENV_FILES = ("env.json", "env.py", "checks.json", "server.py")


class EnvLoadError(Exception):
    """An environment directory or one of its files is missing or malformed; the message says which and why."""


def envs_root() -> Path:
    """The catalog directory: `environments` beside this file, or `$ENVFACTORY_ENVS` when set (tests, deployments)."""
    override = os.environ.get("ENVFACTORY_ENVS")
    return Path(override).resolve() if override else Path(__file__).resolve().parents[1] / "environments"


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


def env_names(root: Path | None = None) -> list[str]:
    root = root or envs_root()
    if not root.is_dir():
        return []
    # dot-directories are admissions in progress (servers/factory/build.py), never catalog entries
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / "env.json").is_file())


def find_env(name: str, root: Path | None = None) -> EnvDir:
    """Resolve a catalog name or a directory path to a loaded EnvDir."""
    candidate = Path(name)
    if candidate.is_dir() and (candidate / "env.json").exists():
        return load_env_dir(candidate)
    root = root or envs_root()
    path = root / name
    if not (path / "env.json").is_file():
        known = ", ".join(env_names(root)) or "none"
        raise EnvLoadError(f"unknown environment {name!r} (known: {known})")
    return load_env_dir(path)
