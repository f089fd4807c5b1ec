"""The `envfactory` command: one typer app. Each verb lives in its own module; this one only registers them.

Every verb prints its expected failures as one `error: ...` line and exits 1 (envfactory/cli/errors.py).
"""

from __future__ import annotations

import typer

from envfactory.cli.build import build
from envfactory.cli.catalog import registry_list, registry_mcp_config, registry_show
from envfactory.cli.demo import demo
from envfactory.cli.export import export
from envfactory.cli.farm import farm
from envfactory.cli.graph import graph
from envfactory.cli.serve import serve
from envfactory.cli.stats import stats
from envfactory.cli.synthesize import synthesize
from envfactory.cli.verify import verify

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Verified, stateful tool environments over MCP, and trajectory synthesis.")
registry_app = typer.Typer(no_args_is_help=True, help="The catalog of verified environments: the workspace's "
                                                      "(--registry, $ENVFACTORY_HOME or ./envs), then the built-ins.")
app.add_typer(registry_app, name="registry")

app.command()(verify)
app.command()(serve)
app.command()(farm)
app.command()(build)
app.command()(demo)
app.command(help="Synthesize verified trajectories over MCP (offline roles unless --model-roles).")(synthesize)
app.command(help="Export a run: openai, sharegpt, llamafactory (alpaca + dataset_info.json), verl (parquet).")(export)
app.command(help="Statistics of a run (coverage, shapes, modes, kinds, leaks, pass rates) with PNG plots.")(stats)
app.command(help="The tool graph of some MCP servers: statistics, graph.json, a PNG and an HTML view.")(graph)
registry_app.command("list")(registry_list)
registry_app.command("show")(registry_show)
registry_app.command("mcp-config")(registry_mcp_config)


def main() -> None:
    app()
