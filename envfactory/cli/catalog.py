"""`envfactory registry list|show|mcp-config`: what the catalog holds, and an mcp.json that launches it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from envfactory.cli.console import err, out
from envfactory.cli.errors import fail, one_line_errors
from envfactory.cli.workspace import RegistryOption, workspace
from registry.catalog import entry, get_verified, scan, shadowed, verified_envs
from registry.envdir import BUILTIN_ROOT, EnvDir, workspace_root
from registry.mcpconfig import mcp_config

CLIENTS = ("claude", "cursor", "vscode", "generic")


def origin(env: EnvDir) -> str:
    return "built-in" if env.path.parent == BUILTIN_ROOT else "workspace"


@one_line_errors
def registry_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
                  registry: RegistryOption = None) -> None:
    """List verified environments (tools, scenarios, report summary): the workspace's, then the built-ins."""
    with workspace(registry):
        verified, rejected = scan()
        hidden = shadowed()
        home = workspace_root()
    entries = [entry(e) for e in verified]
    for r in rejected:
        err.print(f"not listed: {r.name} ({r.path}): {r.reason}", markup=False, highlight=False)
    for s in hidden:
        err.print(f"shadowed: {s.path} (by {s.by})", markup=False, highlight=False)
    if as_json:
        print(json.dumps([e.model_dump() for e in entries], indent=2))
        return
    table = Table(title=f"catalog: {len(entries)} verified environment(s)", caption=f"workspace: {home}")
    for col in ("name", "version", "domain", "tools (read/write)", "scenarios", "from", "verification"):
        table.add_column(col)
    for env, e in zip(verified, entries, strict=True):
        table.add_row(e.name, e.version, e.domain, f"{e.tools} ({e.read_tools}/{e.write_tools})",
                      ", ".join(e.scenarios), origin(env), e.summary)
    out.print(table)


@one_line_errors
def registry_show(name: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
                  registry: RegistryOption = None) -> None:
    """Show one verified environment: tools with annotations, scenarios and its verification report."""
    with workspace(registry):
        env = get_verified(name)
    report = env.report()
    if as_json:
        print(json.dumps({"entry": entry(env).model_dump(), "spec": env.spec.model_dump(mode="json", by_alias=True),
                          "report": report.model_dump(mode="json") if report else None}, indent=2))
        return
    e = entry(env)
    out.print(f"[bold]{e.name}[/] {e.version} ({e.domain}): {e.description}")
    out.print(f"path: {e.path} ({origin(env)})\ngenerator: {e.generator}\nscenarios: {', '.join(e.scenarios)}")
    tools = Table(title=f"{e.tools} tools")
    for col in ("tool", "kind", "required arguments", "description"):
        tools.add_column(col)
    for t in env.spec.tools:
        a = t.annotations
        kind = "read" if a.read_only_hint else ("destructive" if a.destructive_hint else "write")
        first_sentence = t.description.split(". ")[0].split("\n")[0].rstrip(".")
        tools.add_row(t.name, kind, ", ".join(t.input_schema.get("required", [])), first_sentence)
    out.print(tools)
    if report:
        checks = Table(title=f"verification: {report.summary}")
        for col in ("check", "passed", "summary", "seconds"):
            checks.add_column(col)
        for c in report.checks:
            checks.add_row(c.name, "yes" if c.passed else "no", c.summary, f"{c.seconds:.2f}")
        out.print(checks)


@one_line_errors
def registry_mcp_config(
    client: Annotated[str, typer.Option(help="claude | cursor | vscode | generic")] = "claude",
    http: Annotated[str | None, typer.Option(help="Farm base URL or a URL template with {name}.")] = None,
    registry: RegistryOption = None,
) -> None:
    """Print an mcp.json that launches every catalog environment (absolute paths, this interpreter)."""
    if client not in CLIENTS:
        fail(f"unknown client {client!r} ({', '.join(CLIENTS)})")
    with workspace(registry):
        envs = verified_envs()
    if not envs:
        fail("the catalog is empty: run `envfactory verify --all` first")
    print(json.dumps(mcp_config(envs, client, http), indent=2))  # type: ignore[arg-type]
