"""`envfactory graph` and its pictures: a real PNG, one self-contained HTML file, the catalog's servers over stdio."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from envfactory.cli.graph import graph
from synthesizer.graph.stats import graph_stats
from synthesizer.graph.store import load_graph
from synthesizer.graph.union import union_graph
from synthesizer.graph.view import render_html, render_png, view_data
from tests.fixtures.scripted_llm import ScriptedLLMServer
from tests.synthesizer.graph.test_graph import TOOLS, catalog_tools

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def app() -> typer.Typer:
    cli = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    cli.command()(graph)
    cli.command("noop")(lambda: None)  # two commands: `graph` stays a named subcommand, as in envfactory
    return cli


@pytest.fixture(scope="module")
def small():
    return union_graph({"calendar": catalog_tools("calendar"), "notes": TOOLS})


def test_png_is_a_png(small, tmp_path: Path) -> None:
    path = render_png(small, tmp_path / "pics" / "graph.png", seed=3)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_html_is_self_contained_and_interactive(small, tmp_path: Path) -> None:
    path = render_html(small, tmp_path / "graph.html", seed=3)
    page = path.read_text(encoding="utf-8")
    assert 'src="http' not in page and 'href="http' not in page
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page and "@import" not in page
    assert page.count("<script") == 2 and "<style>" in page
    for feature in ("mousemove", "click", "checkbox", "hiddenServers", "createElementNS"):
        assert feature in page
    doc = json.loads(re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.S)[1])
    assert doc == json.loads(json.dumps(view_data(small, seed=3)))
    names = {n["id"] for n in doc["nodes"]}
    assert "calendar__list_calendars" in names and "notes__create_event" in names
    assert {s["name"] for s in doc["servers"]} == {"calendar", "notes"}
    assert all(0 <= n["x"] <= 1 and 0 <= n["y"] <= 1 for n in doc["nodes"])
    edge = next(e for e in doc["edges"] if (e["source"], e["target"]) ==
                ("calendar__list_calendars", "calendar__create_event"))
    assert edge["links"][0]["param"] == "calendar_id" and not edge["cross"]
    assert render_html(small, tmp_path / "again.html", seed=3).read_text(encoding="utf-8") == page  # seeded


def test_cli_writes_json_png_and_html_for_the_catalog(tmp_path: Path) -> None:
    out = tmp_path / "graph"
    result = CliRunner().invoke(app(), ["graph", "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    for name in ("graph.json", "graph.png", "graph.html"):
        assert (out / name).is_file() and str(out / name) in result.stdout.replace("\n", "")
    assert (out / "graph.png").read_bytes().startswith(PNG_MAGIC)
    g = load_graph(out / "graph.json")
    stats = graph_stats(g)
    assert g.graph["servers"] == ["calendar", "shop", "travel"] and stats.unreachable == []
    assert "reachable tools" in result.stdout and f"{stats.tools}/{stats.tools}" in result.stdout


def test_cli_embeddings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mcp.json"
    root = Path(__file__).resolve().parents[2]
    config.write_text(json.dumps({"mcpServers": {"calendar": {
        "command": sys.executable, "args": [str(root / "environments" / "calendar" / "server.py")]}}}))
    with ScriptedLLMServer([]) as server:
        monkeypatch.setenv("ENVFACTORY_EMBED_BASE_URL", server.base_url)
        monkeypatch.setenv("ENVFACTORY_EMBED_API_KEY", "x")
        monkeypatch.setenv("ENVFACTORY_EMBED_MODEL", "emb")
        result = CliRunner().invoke(app(), ["graph", "--mcp-config", str(config), "--out", str(tmp_path / "o"),
                                            "--embeddings"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert server.requests and all(r.get("model") == "emb" and "input" in r for r in server.requests)
    g = load_graph(tmp_path / "o" / "graph.json")
    assert g.graph["embedding"]["model"] == "emb"
    assert all("embedding" in d["components"] for _, _, d in g.edges(data=True) if d["kind"] == "feeds")


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app(), ["graph", "--mcp-config", str(tmp_path / "missing.json"),
                                        "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: {tmp_path / 'missing.json'}: file not found"]
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(app(), ["graph", "--url", "http://127.0.0.1:9/mcp", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [ln for ln in result.stderr.splitlines() if ln.strip()][0].startswith("error: cannot reach MCP server")
