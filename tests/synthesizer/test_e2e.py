"""Synthesizer end to end against the notes fixture server: HTTP (--url), stdio (mcp.json), resume, CLI errors."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from envfactory.cli import export as export_cli
from envfactory.cli import synthesize as cli
from registry.envdir import load_env_dir
from synthesizer.data.export import export
from synthesizer.data.messages import validate_messages
from synthesizer.data.records import Trajectory
from synthesizer.run import MANIFEST, TRAJECTORIES, SynthConfig, synthesize
from tests.conftest import HttpServer, free_port

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "tests" / "fixtures" / "envs" / "notes"


def run(out: Path, n: int, urls: list[str], seed: int = 0, mcp_config: Path | None = None):
    config = SynthConfig(n=n, seed=seed, out=out, urls=urls, mcp_config=mcp_config, progress=False)
    return asyncio.run(synthesize(config))


def lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / TRAJECTORIES).read_text(encoding="utf-8").splitlines()]


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("synthesize")(cli.synthesize)
    a.command("export")(export_cli.export)
    return a


def test_http_trajectories_are_verified_and_valid(tmp_path: Path, notes_url: str) -> None:
    summary = run(tmp_path / "r", 10, [notes_url])
    records = lines(tmp_path / "r")
    assert summary.count == len(records) == 10
    assert [r["index"] for r in records] == sorted(r["index"] for r in records)
    manifest = json.loads((tmp_path / "r" / MANIFEST).read_text())
    assert manifest["finished"] and manifest["count"] == 10 and manifest["format"] == "envfactory.run/2"
    assert manifest["servers"][0]["server_name"] == "notes"
    assert manifest["servers"][0]["tools"] == ["list_notes", "get_note", "create_note", "delete_note"]
    assert manifest["graph"]["tools"] == 4
    for r in records:
        t = Trajectory.model_validate(r)
        names = {x["function"]["name"] for x in r["tools"]}
        server = r["envs"][0]["name"]
        assert names == {f"{server}__{t}" for t in ("list_notes", "get_note", "create_note", "delete_note")}
        assert t.checks.verified and t.checks.calls.matched and t.pass_at_k.passed == t.pass_at_k.k == 1
        if t.kind not in ("irrelevance", "missing_info"):
            assert t.checks.state_match is True
            assert t.final_state_hashes == t.expected_state_hashes
        assert r["messages"][1] == {"role": "user", "content": r["query"]}
        assert r["messages"][-1]["role"] == "assistant" and r["messages"][-1]["content"]
        assert validate_messages(r["messages"], names) == [] or t.kind == "irrelevance"
        made = [c["function"]["name"] for m in r["messages"] if m.get("tool_calls") for c in m["tool_calls"]]
        assert [c.name for c in t.plan if c.required] == [n for n in made if n in {c.name for c in t.plan
                                                                                   if c.required}]
        assert not any(n.split("__")[1] in r["query"] for n in names)
        assert not re.search(r"note_\d{4}", r["query"])
        assert set(r["models"]) == {"planner", "writer", "refiner", "user", "assistant", "judge"}
        assert "time" not in json.dumps(r["checks"])


def strip_timings(path: Path) -> list[dict]:
    records = lines(path)
    for r in records:
        r.pop("timings")
    return records


def test_same_seed_same_records_whatever_the_concurrency(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "a", 8, [notes_url], seed=7)
    config = SynthConfig(n=8, seed=7, out=tmp_path / "b", urls=[notes_url], progress=False, concurrency=8)
    asyncio.run(synthesize(config))
    run(tmp_path / "c", 8, [notes_url], seed=8)
    a = strip_timings(tmp_path / "a")
    assert a == strip_timings(tmp_path / "b")
    assert a != strip_timings(tmp_path / "c")


def test_resume_equals_direct_run_and_repairs_truncation(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "direct", 5, [notes_url], seed=3)
    direct = strip_timings(tmp_path / "direct")
    run(tmp_path / "resumed", 2, [notes_url], seed=3)
    assert len(lines(tmp_path / "resumed")) == 2
    summary = run(tmp_path / "resumed", 5, [notes_url], seed=3)
    assert summary.new == 3
    assert strip_timings(tmp_path / "resumed") == direct
    # a crash mid-write leaves a truncated last line: it is dropped and regenerated
    path = tmp_path / "resumed" / TRAJECTORIES
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    summary = run(tmp_path / "resumed", 5, [notes_url], seed=3)
    assert summary.new == 1 and strip_timings(tmp_path / "resumed") == direct
    # nothing left to do: a re-run changes nothing
    assert run(tmp_path / "resumed", 5, [notes_url], seed=3).new == 0


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "direct", 12, [notes_url], seed=4)
    direct = strip_timings(tmp_path / "direct")
    out = tmp_path / "killed"
    argv = [sys.executable, "-m", "envfactory", "synthesize", "--n", "12", "--seed", "4", "--out", str(out),
            "--url", notes_url, "--concurrency", "2"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = out / TRAJECTORIES
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not path.exists() or len(path.read_bytes().splitlines()) < 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(path.read_bytes().splitlines())
    assert 3 <= before < 12
    summary = run(out, 12, [notes_url], seed=4)
    assert summary.count == 12 and summary.new == 12 - before
    resumed = strip_timings(out)
    assert resumed == direct and len({r["id"] for r in resumed}) == 12


def test_a_server_dying_mid_run_is_reported_and_skipped(tmp_path: Path) -> None:
    first = HttpServer([sys.executable, str(NOTES / "server.py")])
    second = HttpServer([sys.executable, str(NOTES / "server.py")])
    try:
        url_a, url_b = first.url, second.url.replace("/mcp", "/mcp/")  # two names for two servers
        from synthesizer import pipeline
        from synthesizer import run as run_module

        original = pipeline.synthesize_index
        calls = {"n": 0}

        async def kill_after_two(ctx, index):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 3:
                first.stop()
            return await original(ctx, index)

        run_module.synthesize_index = kill_after_two  # type: ignore[assignment]
        try:
            summary = asyncio.run(synthesize(SynthConfig(n=10, out=tmp_path / "r", urls=[url_a, url_b],
                                                         progress=False, concurrency=1)))
        finally:
            run_module.synthesize_index = original  # type: ignore[assignment]
    finally:
        first.stop()
        second.stop()
    assert summary.count == 10
    dead = [n for n in summary.failed_servers]
    assert len(dead) == 1 and "lost MCP server" in summary.failed_servers[dead[0]]
    manifest = json.loads((tmp_path / "r" / MANIFEST).read_text())
    assert dead[0] in manifest["failed_servers"]
    late = [r for r in lines(tmp_path / "r") if r["index"] >= 4]
    assert late and all(dead[0] not in [e["name"] for e in r["envs"]] for r in late)


def test_resume_with_other_seed_or_sources_is_an_error(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "r", 1, [notes_url], seed=1)
    res = CliRunner().invoke(app(), ["synthesize", "--n", "2", "--seed", "2", "--out", str(tmp_path / "r"),
                                     "--url", notes_url])
    assert res.exit_code == 1 and "seed 1" in res.stderr and "Traceback" not in res.stderr
    res = CliRunner().invoke(app(), ["synthesize", "--n", "2", "--seed", "1", "--out", str(tmp_path / "r"),
                                     "--url", notes_url + "?x=1"])
    assert res.exit_code == 1 and "other servers" in res.stderr


def test_unreachable_url_is_one_clear_line(tmp_path: Path) -> None:
    port = free_port()  # closed: nothing listens there
    res = CliRunner().invoke(app(), ["synthesize", "--n", "2", "--out", str(tmp_path / "r"),
                                     "--url", f"http://127.0.0.1:{port}/mcp"])
    assert res.exit_code == 1
    err = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("error: no MCP server could be reached: cannot reach MCP server")
    assert f"127.0.0.1:{port}" in err[0] and "Traceback" not in res.output + res.stderr


def test_bad_mcp_json_and_bad_command(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"mcpServers": {')
    res = CliRunner().invoke(app(), ["synthesize", "--out", str(tmp_path / "r"), "--mcp-config", str(bad)])
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and "invalid JSON" in res.stderr
    cfg = tmp_path / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"ghost": {"command": str(tmp_path / "no-such-binary")}}}))
    res = CliRunner().invoke(app(), ["synthesize", "--out", str(tmp_path / "r2"), "--mcp-config", str(cfg)])
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) == 1
    assert "cannot start MCP server 'ghost'" in res.stderr and "Traceback" not in res.stderr


def test_mcp_json_stdio_uses_catalog_scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVFACTORY_ENVS", str(NOTES.parent))  # so `notes` resolves to its env.json scenarios
    cfg = tmp_path / "mcp.json"
    cfg.write_text(json.dumps({"servers": {"notes": {"type": "stdio", "command": sys.executable,
                                                     "args": [str(NOTES / "server.py")]}}}))
    res = CliRunner().invoke(app(), ["synthesize", "--n", "6", "--seed", "5", "--out", str(tmp_path / "r"),
                                     "--mcp-config", str(cfg)])
    assert res.exit_code == 0, res.output + res.stderr
    assert "notes" in res.stdout and "trajectories" in res.stdout
    records = lines(tmp_path / "r")
    assert len(records) == 6
    scenarios = {s for r in records for s in r["scenarios"].values()}
    assert scenarios <= {"empty", "small", "full", None}
    assert all(r["envs"][0]["transport"] == "stdio" and r["checks"]["verified"] for r in records)
    assert any(r["checks"]["state_match"] for r in records)
    env_hash = load_env_dir(NOTES).content_hash()  # records name the exact environment files they came from
    assert all(r["envs"][0]["env_hash"] == env_hash and len(r["envs"][0]["tools_hash"]) == 64 for r in records)
    with_plan = [r for r in records if r["plan"]]
    assert with_plan and all(r["initial_states"]["notes"] for r in with_plan)  # catalog scenario State recorded
    out = tmp_path / "sft.jsonl"
    res = CliRunner().invoke(app(), ["export", str(tmp_path / "r"), "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    assert len(out.read_text().splitlines()) == 6


def test_export_openai(tmp_path: Path, notes_url: str) -> None:
    run(tmp_path / "r", 4, [notes_url], seed=11)
    result = export(tmp_path / "r", "openai", tmp_path / "openai.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "openai.jsonl").read_text().splitlines()]
    assert result.rows == len(rows) == 4
    for row in rows:
        assert set(row) == {"messages", "tools"}
        assert row["tools"][0]["type"] == "function" and "parameters" in row["tools"][0]["function"]
        assert validate_messages(row["messages"], {t["function"]["name"] for t in row["tools"]}) == []
    res = CliRunner().invoke(app(), ["export", str(tmp_path / "r"), "--format", "csv"])
    assert res.exit_code == 1 and "unknown format" in res.stderr


def test_synthesizer_never_imports_servers() -> None:
    pattern = re.compile(r"^\s*(import servers|from servers)\b", re.MULTILINE)
    offenders = [p for p in (ROOT / "synthesizer").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
    proc = subprocess.run(["grep", "-r", r"import servers\|from servers", str(ROOT / "synthesizer")],
                          capture_output=True, text=True)
    assert proc.stdout == ""


def test_pass_at_k_keeps_every_rollouts_checks(tmp_path: Path, notes_url: str) -> None:
    config = SynthConfig(n=3, seed=2, out=tmp_path / "r", urls=[notes_url], progress=False, k=3)
    asyncio.run(synthesize(config))
    for r in lines(tmp_path / "r"):
        t = Trajectory.model_validate(r)
        assert t.pass_at_k.k == 3 and t.pass_at_k.passed == 3 and t.pass_at_k.rate == 1.0
        assert len(t.pass_at_k.rollouts) == 3 and all(c.verified for c in t.pass_at_k.rollouts)
        assert {k for k in t.timings if k.startswith("rollout_")} == {"rollout_0_s", "rollout_1_s", "rollout_2_s"}
