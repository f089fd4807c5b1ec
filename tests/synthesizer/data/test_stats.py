"""`envfactory stats`: every figure of a small hand-written run, the leak rules, the charts and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from envfactory.cli.stats import stats as stats_command
from synthesizer.data.leaks import is_identifier
from synthesizer.data.records import (
    CallCheck,
    Checks,
    EnvRef,
    Feed,
    Intent,
    PassAtK,
    Persona,
    PlanCall,
    Topology,
    Trajectory,
    Verdict,
    qualified,
)
from synthesizer.data.stats import PLOTS, compute_stats, write_plots
from synthesizer.errors import SynthError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TOOLS = {"mail": ["list_messages", "send_message", "get_message", "archive"],
         "shop": ["searchProducts", "add_to_cart", "checkout", "get-order"]}


def env(name: str) -> EnvRef:
    return EnvRef(name=name, server_name=name, version="1.0.0", transport="stdio", tools_hash="h")


def call(step: int, name: str, arguments: dict[str, Any], depends: list[Feed] | None = None) -> PlanCall:
    server, _, tool = name.partition("__")
    return PlanCall(step=step, server=server, tool=tool, name=name, arguments=arguments, depends=depends or [])


def messages(users: list[str], calls_per_turn: list[list[str]]) -> list[dict[str, Any]]:
    """System, then per user turn: the user message, one assistant message with the calls, their results, an answer."""
    out: list[dict[str, Any]] = [{"role": "system", "content": "You are helpful."}]
    for i, (text, names) in enumerate(zip(users, calls_per_turn, strict=True)):
        out.append({"role": "user", "content": text})
        if names:
            tool_calls = [{"id": f"c{i}{j}", "type": "function", "function": {"name": n, "arguments": "{}"}}
                          for j, n in enumerate(names)]
            out.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
            out += [{"role": "tool", "tool_call_id": tc["id"], "content": "{}"} for tc in tool_calls]
        out.append({"role": "assistant", "content": "Done."})
    return out


def record(index: int, *, envs: list[str], kind_topology: str, mode: str, kind: str, plan: list[PlanCall],
           users: list[str], calls: list[list[str]], verified: bool = True, state_match: bool | None = True,
           matched: bool = True, unhandled: list[str] | None = None, verdict: str | None = "pass",
           passed: int = 3, k: int = 3, tokens: int = 100) -> Trajectory:
    shown = [{"type": "function", "function": {"name": qualified(s, t), "parameters": {}}} for s in envs
             for t in TOOLS[s]]
    return Trajectory(
        id=f"s0-{index:06d}", seed=0, index=index, mode=mode, kind=kind, envs=[env(e) for e in envs],
        scenarios={e: "small" for e in envs},
        topology=Topology(kind=kind_topology, nodes=[c.name for c in plan], servers=envs),
        plan=plan, persona=Persona(name="Ann", role="ops", situation="busy"), intent=Intent(goal="do it"),
        query=users[0], messages=messages(users, calls), tools=shown,
        expected_state_hashes={e: "x" for e in envs}, final_state_hashes={e: "x" for e in envs},
        checks=Checks(state_match=state_match, calls=CallCheck(matched=matched), unhandled_errors=unhandled or [],
                      verified=verified),
        pass_at_k=PassAtK(k=k, passed=passed), judge=Verdict(model="judge-m", verdict=verdict),
        tokens={"prompt": tokens - 10, "completion": 10, "total": tokens},
    )


def records() -> list[Trajectory]:
    feed = [Feed(src=0, field="messages[].id", param="message_id")]
    return [
        record(0, envs=["mail"], kind_topology="single", mode="single_turn", kind="normal",
               plan=[call(0, "mail__send_message", {"to": "bob", "body": "launch"})],
               users=["Please send a note to Bob about the launch; archive it after."],
               calls=[["mail__send_message"]], tokens=100),
        # leaks a fed id (msg_0042, from list_messages' output) in the first user message
        record(1, envs=["mail"], kind_topology="chain", mode="multi_turn", kind="normal",
               plan=[call(0, "mail__list_messages", {}),
                     call(1, "mail__get_message", {"message_id": "msg_0042"}, feed)],
               users=["Open msg_0042 from my inbox.", "Now summarise it."],
               calls=[["mail__list_messages"], ["mail__get_message"]], verdict="fail", passed=2, tokens=200),
        # leaks a raw tool name (another case) and a fed number with >= 4 digits; 678 has too few digits to count
        record(2, envs=["shop"], kind_topology="fan_out", mode="single_turn", kind="distractors",
               plan=[call(0, "shop__searchProducts", {"q": "lamp"}),
                     call(1, "shop__add_to_cart", {"product_id": 12345}, [Feed(src=0, field="items[].id",
                                                                                 param="product_id")]),
                     call(2, "shop__add_to_cart", {"product_id": 678}, [Feed(src=0, field="items[].id",
                                                                               param="product_id")])],
               users=["Use searchproducts to find a lamp, add item 12345 and item 678, then checkout."],
               calls=[["shop__searchProducts", "shop__add_to_cart", "shop__add_to_cart"]], verified=False,
               state_match=False, matched=False, unhandled=["boom"], verdict=None, passed=0, tokens=300),
        # near misses only: ord-77x is not the fed id ord-77, get-orders is not the tool get-order;
        # shop__refund is in the plan but no server lists it
        record(3, envs=["mail", "shop"], kind_topology="dag", mode="clarification", kind="missing_info",
               plan=[call(0, "mail__get_message", {"message_id": "msg_0001"}),
                     call(1, "shop__get-order", {"order_id": "ord-77"}, [Feed(src=0, field="order", param="order_id")]),
                     call(2, "shop__refund", {})],
               users=["Find the order ord-77x from that mail; get-orders looked empty.", "It is the blue lamp."],
               calls=[["mail__get_message"], ["shop__get-order"]], state_match=None, verdict=None, tokens=400),
        # leaks a namespaced tool name
        record(4, envs=["mail"], kind_topology="none", mode="single_turn", kind="irrelevance", plan=[],
               users=["Can you call MAIL__archive for me?"], calls=[[]], state_match=None, passed=0, k=0,
               tokens=500),
    ]


def manifest() -> dict[str, Any]:
    return {"format": "envfactory.run/2", "config": {"seed": 0},
            "servers": [{"name": s, "server_name": s, "version": "1.0.0", "transport": "stdio", "tools": tools,
                         "scenarios": ["small"]} for s, tools in TOOLS.items()],
            "count": 5, "finished": True, "stats": {"attempts": 9, "rejected": {"failed_calls": 3, "bad_queries": 1}},
            "models": {"user": "m"}, "prompt_hashes": {"user": "abc"}}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "trajectories.jsonl").write_text("".join(r.to_line() for r in records()), encoding="utf-8")
    (run / "manifest.json").write_text(json.dumps(manifest()), encoding="utf-8")
    return run


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command("stats")(stats_command)
    cli.command("noop")(lambda: None)  # two commands, so `stats` is addressed by name as under `envfactory`
    return cli


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app(), ["stats", *args])


def test_counts(run_dir: Path) -> None:
    s = compute_stats(run_dir)
    assert (s.trajectories, s.verified, s.verified_pct) == (5, 4, 80.0)
    assert s.by_environment == {"mail": 4, "shop": 2}
    assert s.by_topology == {"single": 1, "chain": 1, "fan_out": 1, "fan_in": 0, "dag": 1, "none": 1}
    assert s.by_mode == {"single_turn": 3, "multi_turn": 1, "clarification": 1}
    assert s.by_kind == {"normal": 2, "irrelevance": 1, "missing_info": 1, "distractors": 1}
    assert s.by_mode_kind["single_turn"] == {"normal": 1, "irrelevance": 1, "missing_info": 0, "distractors": 1}
    assert s.by_mode_kind["clarification"] == {"normal": 0, "irrelevance": 0, "missing_info": 1, "distractors": 0}
    assert s.by_turns == {1: 3, 2: 2}
    assert s.by_tool_calls == {0: 1, 1: 1, 2: 2, 3: 1}
    assert s.judge == {"pass": 2, "fail": 1, "none": 2}
    assert s.checks.state_match == {"true": 2, "false": 1, "none": 2}
    assert (s.checks.calls_matched, s.checks.unhandled_error_records, s.checks.unhandled_errors) == (4, 1, 1)
    assert (s.tokens.total, s.tokens.prompt, s.tokens.completion) == (300.0, 290.0, 10.0)
    assert (s.attempts, s.rejected) == (9, {"failed_calls": 3, "bad_queries": 1})
    assert s.pass_at_k.evaluated == 4 and s.pass_at_k.mean == pytest.approx(2 / 3)
    assert s.pass_at_k.histogram == {0.0: 1, 0.667: 1, 1.0: 2}


def test_coverage(run_dir: Path) -> None:
    cov = compute_stats(run_dir).coverage
    assert (cov.used, cov.total, cov.fraction) == (6, 8, 0.75)
    assert cov.never_used == ["mail__archive", "shop__checkout"]
    assert cov.unknown == ["shop__refund"]
    by_server = {s.server: s for s in cov.servers}
    assert (by_server["mail"].used, by_server["mail"].total, by_server["mail"].never_used) == (3, 4, ["archive"])
    assert (by_server["shop"].used, by_server["shop"].total, by_server["shop"].never_used) == (3, 4, ["checkout"])
    assert {s.source for s in cov.servers} == {"manifest"}


def test_leaks(run_dir: Path) -> None:
    s = compute_stats(run_dir)
    names = s.leaked_tool_names
    assert (names.records, names.occurrences) == (2, 2)
    assert names.counts == {"searchProducts": 1, "mail__archive": 1}
    assert [(e.id, e.items) for e in names.examples] == [("s0-000002", ["searchProducts"]),
                                                         ("s0-000004", ["mail__archive"])]
    ids = s.leaked_ids
    assert (ids.records, ids.occurrences) == (2, 2)
    assert [(e.id, e.items) for e in ids.examples] == [("s0-000001", ["mail__get_message.message_id=msg_0042"]),
                                                       ("s0-000002", ["shop__add_to_cart.product_id=12345"])]


def test_identifier_rule() -> None:
    assert all(map(is_identifier, ["get_order", "get-order", "searchProducts", "v2Search"]))
    assert not any(map(is_identifier, ["archive", "Checkout", "URL"]))


def test_manifest_without_tool_lists_falls_back_to_records(run_dir: Path) -> None:
    doc = manifest()
    for server in doc["servers"]:
        server["tools"] = len(server["tools"])  # the older manifest format: a count only
    (run_dir / "manifest.json").write_text(json.dumps(doc))
    cov = compute_stats(run_dir).coverage
    assert {s.source for s in cov.servers} == {"records"}
    assert (cov.used, cov.total) == (7, 9)  # shown tools of both servers, plus shop__refund from a plan
    (run_dir / "manifest.json").unlink()
    s = compute_stats(run_dir)
    assert (s.manifest, s.attempts, s.coverage.total) == (False, None, 9)


def test_write_plots(run_dir: Path, tmp_path: Path) -> None:
    paths = write_plots(compute_stats(run_dir), tmp_path / "plots")
    assert [p.name for p in paths] == [f"{name}.png" for name in PLOTS]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)


def test_malformed_lines(run_dir: Path) -> None:
    path = run_dir / "trajectories.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1] + "{not json\n" + lines[3])
    with pytest.raises(SynthError, match=r"trajectories.jsonl: line 3 is not valid JSON"):
        compute_stats(run_dir)
    path.write_text(lines[0] + '{"id": "x"}\n')
    with pytest.raises(SynthError, match=r"line 2 is not an envfactory.trajectories/2 record"):
        compute_stats(run_dir)


def test_missing_inputs(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="no such run directory"):
        compute_stats(tmp_path / "nope")
    with pytest.raises(SynthError, match="no trajectories file"):
        compute_stats(tmp_path)


def test_cli_tables_and_files(run_dir: Path) -> None:
    result = invoke(str(run_dir))
    assert result.exit_code == 0, result.output
    assert "verified: 4/5 (80.0%)" in result.stdout
    assert "tool coverage: 75.0% (6/8)" in result.stdout
    assert "leaked tool names in first user turns: 2" in result.stdout
    assert "leaked ids in first user turns: 2" in result.stdout
    assert "s0-000001: mail__get_message.message_id=msg_0042" in result.stdout
    out = run_dir / "stats"
    for name in ["stats.json", "quality.json", *(f"{p}.png" for p in PLOTS)]:
        assert f"wrote {out / name}" in result.stdout
        assert (out / name).is_file()
    assert json.loads((out / "stats.json").read_text())["coverage"]["used"] == 6


def test_cli_json_and_no_plots(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    result = invoke(str(run_dir), "--json", "--no-plots", "--out", str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["trajectories"] == 5 and doc["leaked_ids"]["records"] == 2
    assert doc == json.loads((out / "stats.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["quality.json", "stats.json"]


@pytest.mark.parametrize("broken", ["malformed", "missing"])
def test_cli_errors(run_dir: Path, broken: str) -> None:
    if broken == "malformed":
        with (run_dir / "trajectories.jsonl").open("a") as fh:
            fh.write("{oops\n")
        target, needle = run_dir, "line 6 is not valid JSON"
    else:
        target, needle = run_dir / "absent", "no such run directory"
    result = invoke(str(target))
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr
    assert "Traceback" not in result.output
