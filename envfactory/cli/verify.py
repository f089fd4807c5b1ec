"""`envfactory verify`: run the six checks on environment directories and write their report.json."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from envfactory.cli.console import err, out
from envfactory.cli.errors import fail, one_line_errors
from envfactory.cli.workspace import RegistryOption, workspace
from registry.envdir import catalog_roots, env_dirs, find_env
from servers.verify.verifier import verify_env


@one_line_errors
def verify(
    name: Annotated[str | None, typer.Argument(help="Environment name or directory.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Verify every environment of the catalog "
                                                     "(workspace and built-ins).")] = False,
    registry: RegistryOption = None,
) -> None:
    """Run the six verification checks and write report.json; exit 1 if any environment fails."""
    with workspace(registry):
        if bool(name) == all_:
            fail("give an environment name or --all (not both)")
        paths = list(env_dirs().values()) if all_ else [find_env(name).path]  # type: ignore[arg-type]
        if not paths:
            fail(f"no environments in {', '.join(map(str, catalog_roots()))}")
        table = Table(title="verification")
        for col in ("environment", "tools", "verdict", "summary", "seconds"):
            table.add_column(col)
        failed = 0
        for path in paths:
            with err.status(f"verifying {path.name}..."):
                report = verify_env(path)
            failed += not report.passed
            table.add_row(report.env, str(len(find_env(str(path)).spec.tools)),
                          "[green]verified[/]" if report.passed else "[red]failed[/]", report.summary,
                          f"{report.seconds:.1f}")
            for check in report.checks:
                for failure in check.failures[:5] if not check.passed else []:
                    err.print(f"  {report.env} {check.name}: {failure}", markup=False, highlight=False)
        out.print(table)
    if failed:
        raise typer.Exit(1)
