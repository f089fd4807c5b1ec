"""The catalog: environments whose current files passed verification. Nothing else is served or synthesized from."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from registry.envdir import EnvDir, EnvLoadError, env_names, envs_root, load_env_dir


class CatalogSummary(BaseModel):
    """What anyone may know about a catalog environment (the farm serves this at /api/envs)."""

    name: str
    version: str
    domain: str
    description: str
    tools: int
    read_tools: int
    write_tools: int
    scenarios: list[str]
    summary: str
    generator: str


class CatalogEntry(CatalogSummary):
    path: str


class Rejected(BaseModel):
    name: str
    reason: str


def entry(env: EnvDir) -> CatalogEntry:
    report = env.report()
    reads = sum(t.annotations.read_only_hint for t in env.spec.tools)
    return CatalogEntry(
        name=env.name,
        version=env.spec.version,
        domain=env.spec.domain,
        description=env.spec.description,
        path=str(env.path),
        tools=len(env.spec.tools),
        read_tools=reads,
        write_tools=len(env.spec.tools) - reads,
        scenarios=list(env.spec.scenarios),
        summary=report.summary if report else "not verified",
        generator=env.spec.provenance.generator,
    )


def scan(root: Path | None = None) -> tuple[list[EnvDir], list[Rejected]]:
    """Split the environment directories into verified ones and the rest, with the reason for each rejection."""
    verified: list[EnvDir] = []
    rejected: list[Rejected] = []
    root = root or envs_root()
    for name in env_names(root):
        try:
            env = load_env_dir(root / name)
        except EnvLoadError as exc:
            rejected.append(Rejected(name=name, reason=str(exc)))
            continue
        report = env.report()
        if report is None:
            rejected.append(Rejected(name=name, reason="never verified (run: envfactory verify " + name + ")"))
        elif not report.passed:
            rejected.append(Rejected(name=name, reason="verification failed: " + report.summary))
        elif report.env_hash != env.content_hash():
            rejected.append(Rejected(name=name, reason="changed since it was verified (run: envfactory verify)"))
        else:
            verified.append(env)
    return verified, rejected


def verified_envs(root: Path | None = None) -> list[EnvDir]:
    return scan(root)[0]


def get_verified(name: str, root: Path | None = None) -> EnvDir:
    verified, rejected = scan(root)
    for env in verified:
        if env.name == name:
            return env
    for r in rejected:
        if r.name == name:
            raise EnvLoadError(f"environment {name!r} is not in the catalog: {r.reason}")
    known = ", ".join(e.name for e in verified) or "none"
    raise EnvLoadError(f"unknown environment {name!r} (catalog: {known})")
