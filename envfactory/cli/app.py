"""The `envfactory` command: verbs grouped by package. Heavy imports (the MCP SDK) happen inside the verbs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="Verified, stateful tool environments over MCP, and trajectory synthesis.")
registry_app = typer.Typer(no_args_is_help=True, help="The catalog of verified environments.")
app.add_typer(registry_app, name="registry")

out = Console()
err = Console(stderr=True, soft_wrap=True)


class CLIError(Exception):
    """An expected failure: printed as one line, exit code 1, no traceback."""


def fail(message: str) -> None:
    raise CLIError(message)


@app.command()
def verify(
    name: Annotated[str | None, typer.Argument(help="Environment name or directory.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Verify every environment directory in the registry.")] = False,
) -> None:
    """Run the six verification checks and write report.json; exit 1 if any environment fails."""
    from registry.envdir import env_names, envs_root, find_env
    from servers.verify.verifier import verify_env

    if bool(name) == all_:
        fail("give an environment name or --all (not both)")
    paths = [envs_root() / n for n in env_names()] if all_ else [find_env(name).path]  # type: ignore[arg-type]
    if not paths:
        fail(f"no environments in {envs_root()}")
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


@registry_app.command("list")
def registry_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List verified environments (tools, scenarios, report summary)."""
    from registry.catalog import entry, scan

    verified, rejected = scan()
    entries = [entry(e) for e in verified]
    for r in rejected:
        err.print(f"not listed: {r.name}: {r.reason}", markup=False, highlight=False)
    if as_json:
        print(json.dumps([e.model_dump() for e in entries], indent=2))
        return
    table = Table(title=f"catalog: {len(entries)} verified environment(s)")
    for col in ("name", "version", "domain", "tools (read/write)", "scenarios", "verification"):
        table.add_column(col)
    for e in entries:
        table.add_row(e.name, e.version, e.domain, f"{e.tools} ({e.read_tools}/{e.write_tools})",
                      ", ".join(e.scenarios), e.summary)
    out.print(table)


@registry_app.command("show")
def registry_show(name: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show one verified environment: tools with annotations, scenarios and its verification report."""
    from registry.catalog import entry, get_verified

    env = get_verified(name)
    report = env.report()
    if as_json:
        print(json.dumps({"entry": entry(env).model_dump(), "spec": env.spec.model_dump(mode="json", by_alias=True),
                          "report": report.model_dump(mode="json") if report else None}, indent=2))
        return
    e = entry(env)
    out.print(f"[bold]{e.name}[/] {e.version} ({e.domain}): {e.description}")
    out.print(f"path: {e.path}\ngenerator: {e.generator}\nscenarios: {', '.join(e.scenarios)}")
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


@registry_app.command("mcp-config")
def registry_mcp_config(
    client: Annotated[str, typer.Option(help="claude | cursor | vscode | generic")] = "claude",
    http: Annotated[str | None, typer.Option(help="Farm base URL or a URL template with {name}.")] = None,
) -> None:
    """Print an mcp.json that launches every catalog environment (absolute paths, this interpreter)."""
    from registry.catalog import verified_envs
    from registry.mcpconfig import mcp_config

    if client not in ("claude", "cursor", "vscode", "generic"):
        fail(f"unknown client {client!r} (claude, cursor, vscode, generic)")
    envs = verified_envs()
    if not envs:
        fail("the catalog is empty: run `envfactory verify --all` first")
    print(json.dumps(mcp_config(envs, client, http), indent=2))  # type: ignore[arg-type]


@app.command()
def serve(
    name: Annotated[str, typer.Argument(help="Catalog environment name, or an environment directory.")],
    http: Annotated[int | None, typer.Option(help="Serve streamable HTTP on this port instead of stdio.")] = None,
    host: Annotated[str, typer.Option(help="Bind address for --http.")] = "127.0.0.1",
    allowed_host: Annotated[list[str] | None, typer.Option(help="Extra Host header to accept (repeatable).")] = None,
) -> None:
    """Serve one environment as a stand-alone MCP server (stdio, or streamable HTTP at /mcp)."""
    from registry.catalog import get_verified
    from registry.envdir import find_env
    from servers.runtime.mcp_server import run_env_server

    env = find_env(name) if Path(name).is_dir() else get_verified(name)
    if http is not None:
        err.print(f"serving {env.name} on http://{host}:{http}/mcp", highlight=False)
    run_env_server(env.path, http, host, allowed_host)


@app.command()
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
) -> None:
    """Serve every catalog environment over MCP with isolated episodes and an HTTP control plane."""
    import os

    from registry.catalog import verified_envs
    from servers.farm.app import FarmConfigError, FarmSettings, serve_farm
    from servers.farm.episodes import Limits

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


@app.command()
def build(
    specs: Annotated[list[str], typer.Argument(help="OpenAPI/Swagger files, EnvSpec files, or MCP servers "
                                                    "(mcp+stdio:COMMAND or an http(s) URL).")],
    offline: Annotated[bool, typer.Option("--offline", help="Generate without a model (the default).")] = False,
    model: Annotated[str | None, typer.Option(help="Model name (OpenAI-compatible endpoint).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Model endpoint (default: ENVFACTORY_LLM_BASE_URL).")] = None,
    jobs: Annotated[int, typer.Option(help="Environments built at once.")] = 2,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted build, skipping finished stages.")] = False,
    force: Annotated[bool, typer.Option(help="Rebuild even when the input is unchanged.")] = False,
    out_dir: Annotated[Path, typer.Option("--out", help="Build directory (checkpoints, attempts, reports).")] = Path(
        "build"),
    max_attempts: Annotated[int, typer.Option(help="Model attempts per environment.")] = 3,
) -> None:
    """Import API descriptions, generate environments, verify them, admit the ones that pass to the registry."""
    import asyncio

    from rich.live import Live

    from servers.factory.build import Builder, BuildOptions

    if offline and model:
        fail("choose --offline or --model, not both")
    options = BuildOptions(out=out_dir, offline=not model, model=model, base_url=base_url, jobs=jobs, resume=resume,
                           force=force, max_attempts=max_attempts)
    status: dict[str, str] = {}

    def render() -> Table:
        t = Table(title="building", show_header=False)
        for name, stage in status.items():
            t.add_row(name, stage)
        return t

    with Live(render(), console=err, transient=True, refresh_per_second=4) as live:
        def progress(name: str, stage: str) -> None:
            status[Path(name).name if "/" in name else name] = stage
            live.update(render())

        results = asyncio.run(Builder(options, progress).build_all(specs))
    table = Table(title=f"build ({'offline' if options.offline else options.model})")
    for col in ("environment", "tools", "scenarios", "checks", "verdict", "seconds", "tokens"):
        table.add_column(col)
    colors = {"admitted": "green", "unchanged": "cyan", "failed": "red", "error": "red"}
    for r in results:
        table.add_row(r.name or r.source, str(r.tools), str(r.scenarios), str(r.checks),
                      f"[{colors[r.verdict]}]{r.verdict}[/]", f"{r.seconds:.1f}", str(r.tokens))
    out.print(table)
    for r in results:
        if r.verdict in ("failed", "error"):
            err.print(f"{r.name or r.source}: {r.reason}", markup=False, highlight=False)
    ok = sum(r.verdict in ("admitted", "unchanged") for r in results)
    out.print(f"{ok} of {len(results)} environments in the registry")
    if ok < len(results):
        raise typer.Exit(1)


def _register_synthesizer() -> None:
    from envfactory.cli.export import export
    from envfactory.cli.graph import graph
    from envfactory.cli.stats import stats
    from envfactory.cli.synthesize import synthesize

    app.command(help="Synthesize verified trajectories over MCP (offline roles unless --model-roles).")(synthesize)
    app.command(help="Export a run: openai, sharegpt, llamafactory (alpaca + dataset_info.json), verl (parquet).")(
        export)
    app.command(help="Statistics of a run (coverage, shapes, modes, kinds, leaks, pass rates) with PNG plots.")(stats)
    app.command(help="The tool graph of some MCP servers: statistics, graph.json, a PNG and an HTML view.")(graph)


@app.command()
def demo(
    n: Annotated[int, typer.Option(help="Trajectories to synthesize.")] = 20,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/demo"),
) -> None:
    """The main job on embedded defaults: verify all, synthesize offline over MCP, export SFT data."""
    import time

    from envfactory.cli.export import export
    from envfactory.cli.stats import stats
    from envfactory.cli.synthesize import synthesize

    started = time.monotonic()
    verify(None, True)
    synthesize(n=n, seed=seed, out=out_dir, mcp_config=None, url=None, progress=False)
    export(run_dir=out_dir, format="openai", out=out_dir / "sft.openai.jsonl")
    export(run_dir=out_dir, format="verl", out=out_dir / "rl.verl.parquet")
    stats(run_dir=out_dir, as_json=False, plots=True, out=out_dir / "stats")
    out.print(f"[bold green]demo done[/] in {time.monotonic() - started:.1f} s: "
              f"trajectories in {out_dir / 'trajectories.jsonl'}, SFT data in {out_dir / 'sft.openai.jsonl'}, "
              f"RL rows in {out_dir / 'rl.verl.parquet'}, statistics in {out_dir / 'stats'}")


def main() -> None:
    from pydantic import ValidationError

    from registry.envdir import EnvLoadError

    try:
        _register_synthesizer()
    except ImportError as exc:  # the synthesizer is optional for the other verbs
        err.print(f"warning: synthesizer unavailable: {exc}", markup=False)
    known: tuple[type[BaseException], ...] = (CLIError, EnvLoadError, FileNotFoundError, ValidationError)
    try:
        from synthesizer.errors import SynthError

        known = (*known, SynthError)
    except ImportError:
        pass
    try:
        app()
    except known as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
