"""`envfactory serve`: one environment as a stand-alone MCP server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from envfactory.cli.console import err
from envfactory.cli.errors import one_line_errors
from envfactory.cli.workspace import RegistryOption, workspace
from registry.catalog import get_verified
from registry.envdir import find_env
from servers.runtime.mcp_server import run_env_server


@one_line_errors
def serve(
    name: Annotated[str, typer.Argument(help="Catalog environment name, or an environment directory.")],
    http: Annotated[int | None, typer.Option(help="Serve streamable HTTP on this port instead of stdio.")] = None,
    host: Annotated[str, typer.Option(help="Bind address for --http.")] = "127.0.0.1",
    allowed_host: Annotated[list[str] | None, typer.Option(help="Extra Host header to accept (repeatable).")] = None,
    registry: RegistryOption = None,
) -> None:
    """Serve one environment as a stand-alone MCP server (stdio, or streamable HTTP at /mcp)."""
    with workspace(registry):
        env = find_env(name) if Path(name).is_dir() else get_verified(name)
    if http is not None:
        err.print(f"serving {env.name} on http://{host}:{http}/mcp", highlight=False)
    run_env_server(env.path, http, host, allowed_host)
