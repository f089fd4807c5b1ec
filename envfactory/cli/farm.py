"""`envfactory farm`: every catalog environment over MCP, with isolated episodes and an HTTP control plane."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from envfactory.cli.console import err
from envfactory.cli.errors import fail, one_line_errors
from envfactory.cli.workspace import RegistryOption, workspace
from registry.catalog import verified_envs
from servers.farm.app import FarmConfigError, FarmSettings, serve_farm
from servers.farm.episodes import Limits


@one_line_errors
def farm(
    host: Annotated[str, typer.Option(help="Bind address (non-loopback needs --token).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: CPU count; 0: in-process).")] = None,
    token: Annotated[str | None, typer.Option(envvar="ENVFACTORY_TOKEN", show_default=False,
                                              help="Bearer token for /api and /metrics [env: ENVFACTORY_TOKEN].")
                     ] = None,
    allowed_host: Annotated[list[str] | None, typer.Option(help="Extra Host header to accept (repeatable; "
                                                                "'name:*' for any port).")] = None,
    ttl: Annotated[float, typer.Option(help="Seconds before an idle episode expires.")] = 3600.0,
    max_episodes: Annotated[int, typer.Option(help="Most episodes held at once.")] = 100_000,
    registry: RegistryOption = None,
) -> None:
    """Serve every catalog environment over MCP with isolated episodes and an HTTP control plane."""
    with workspace(registry):
        envs = {e.name: e for e in verified_envs()}
    if not envs:
        fail("the catalog is empty: run `envfactory verify --all` first")
    if ttl <= 0 or max_episodes < 1:
        fail("--ttl must be positive and --max-episodes at least 1")
    settings = FarmSettings(host=host, port=port, workers=os.cpu_count() or 1 if workers is None else workers,
                            token=token or None, allowed_hosts=allowed_host or [],
                            limits=Limits(max_episodes=max_episodes, ttl_seconds=ttl),
                            expire_interval=min(30.0, max(0.05, ttl / 2)))
    try:
        settings.check_bind()
    except FarmConfigError as exc:
        fail(str(exc))

    def ready(url: str) -> None:
        err.print(f"farm on {url}  (control plane {url}/api, docs {url}/docs, "
                  f"token {'required' if settings.token else 'off: loopback only'}, workers {settings.workers})",
                  markup=False, highlight=False)
        for name in sorted(envs):
            err.print(f"  {name:<20} {url}/envs/{name}/mcp", markup=False, highlight=False)

    serve_farm(envs, settings, on_ready=ready)
