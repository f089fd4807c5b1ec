"""The catalog: environments whose current files passed verification. Nothing else is served or synthesized from.

Its directories are the workspace (`$ENVFACTORY_HOME`, the CLI's `--registry`, default `./envs`), where `build` admits,
then the hand-written built-ins (registry/envdir.py: `catalog_roots`). A workspace environment shadows a built-in of
the same name, verified or not, so a name always means one directory; `shadowed` says which were hidden.
"""

from __future__ import annotations

from pydantic import BaseModel

from registry.envdir import EnvDir, EnvLoadError, Roots, env_dirs, load_env_dir, shadowed_dirs


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
    path: str
    reason: str


class Shadowed(BaseModel):
    """A directory the catalog ignores because an earlier root has an environment of the same name."""

    name: str
    path: str
    by: str


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


def rejection(env: EnvDir) -> str | None:
    """Why a loaded environment is not in the catalog, or None when its current files passed verification."""
    report = env.report()
    if report is None:
        return f"never verified (run: envfactory verify {env.name})"
    if not report.passed:
        return "verification failed: " + report.summary
    if report.env_hash != env.content_hash():
        return "changed since it was verified (run: envfactory verify)"
    return None


def scan(roots: Roots = None) -> tuple[list[EnvDir], list[Rejected]]:
    """Split the environment directories into verified ones and the rest, with the reason for each rejection."""
    verified: list[EnvDir] = []
    rejected: list[Rejected] = []
    for name, path in env_dirs(roots).items():
        try:
            env = load_env_dir(path)
            reason = rejection(env)
        except EnvLoadError as exc:
            reason = str(exc)
        if reason is None:
            verified.append(env)
        else:
            rejected.append(Rejected(name=name, path=str(path), reason=reason))
    return verified, rejected


def shadowed(roots: Roots = None) -> list[Shadowed]:
    return [Shadowed(name=hidden.name, path=str(hidden), by=str(by)) for hidden, by in shadowed_dirs(roots)]


def verified_envs(roots: Roots = None) -> list[EnvDir]:
    return scan(roots)[0]


def get_verified(name: str, roots: Roots = None) -> EnvDir:
    verified, rejected = scan(roots)
    for env in verified:
        if env.name == name:
            return env
    for r in rejected:
        if r.name == name:
            raise EnvLoadError(f"environment {name!r} is not in the catalog: {r.reason}")
    known = ", ".join(e.name for e in verified) or "none"
    raise EnvLoadError(f"unknown environment {name!r} (catalog: {known})")
