"""Exporters: realistic format-2 trajectories -> openai / sharegpt / llamafactory / verl, loaded back with `datasets`
and pyarrow (offline, caches under tmp_path) and checked for content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from envfactory.cli import export as export_cli
from synthesizer.data.export import FORMATS, TRAJECTORIES, export
from synthesizer.data.ground_truth import GroundTruth
from synthesizer.data.records import (
    CallCheck,
    Checks,
    EnvRef,
    Fact,
    Feed,
    Intent,
    PassAtK,
    Persona,
    PlanCall,
    Task,
    Topology,
    Trajectory,
    Verdict,
    qualified,
)
from synthesizer.errors import SynthError
from synthesizer.rollout.reward import score_messages

ROOT = Path(__file__).resolve().parents[3]
SYSTEM = ("You are a helpful assistant connected to the calendar service. Use the available tools to carry out the "
          "user's request, then tell the user what you did.")


# --- realistic records -----------------------------------------------------------------------------------------------


def env_tools(env: str) -> list[dict[str, Any]]:
    spec = json.loads((ROOT / "environments" / env / "env.json").read_text(encoding="utf-8"))
    return [{"type": "function", "function": {"name": qualified(env, t["name"]), "description": t["description"],
                                              "parameters": t["input_schema"]}} for t in spec["tools"]]


def env_ref(env: str) -> EnvRef:
    return EnvRef(name=env, server_name=env, version="1.0.0", transport="http", tools_hash="a" * 64,
                  env_hash="b" * 64)


def call(cid: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def plan_call(step: int, tool: str, args: dict[str, Any], output: Any = None, **kw: Any) -> PlanCall:
    return PlanCall(step=step, server="calendar", tool=tool, name=qualified("calendar", tool), arguments=args,
                    output=output, **kw)


def trajectory(index: int, *, mode: str, kind: str, plan: list[PlanCall], messages: list[dict[str, Any]],
               envs: tuple[str, ...] = ("calendar",), verified: bool = True, topology: str = "chain",
               segments: list[str] | None = None, task: Task | None = None) -> Trajectory:
    tools = [t for e in envs for t in env_tools(e)]
    query = next(m["content"] for m in messages if m["role"] == "user")
    hashes = {e: ("c" * 64 if plan else "d" * 64) for e in envs}
    return Trajectory(
        id=f"s7-{index:06d}-{'+'.join(envs)}", seed=7, index=index, mode=mode, kind=kind,
        envs=[env_ref(e) for e in envs], scenarios={e: "typical" for e in envs},
        initial_states={"calendar": {"now": "2026-03-02T08:30:00Z", "calendars": {"cal_0002": {"id": "cal_0002"}}}},
        topology=Topology(kind=topology, nodes=[p.name for p in plan], depth=len(plan), servers=list(envs)),
        plan=plan, persona=Persona(name="Priya Natarajan", role="team lead", situation="planning the release week"),
        intent=Intent(goal="get the release week organised", segments=segments or []), task=task, query=query,
        messages=messages, tools=tools, expected_state_hashes=hashes, final_state_hashes=hashes,
        checks=Checks(state_match=verified, calls=CallCheck(matched=verified), verified=verified),
        pass_at_k=PassAtK(k=4, passed=3), judge=Verdict(model="judge-model", verdict="pass"),
        models={"user": "user-model", "assistant": "assistant-model"})


def parallel_record(index: int = 0, verified: bool = True) -> Trajectory:
    retro = {"calendar_id": "cal_0002", "title": "Release retro", "start": "2026-03-04T15:00:00Z",
             "end": "2026-03-04T15:30:00Z", "description": "What went well, what to change."}
    team = {"calendar": {"id": "cal_0002", "name": "Platform Team", "allow_overlap": True}}
    room = {"calendar": {"id": "cal_0003", "name": "Boardroom 7.01", "max_attendees": 12}}
    created = {"event": {"id": "evt_0040", **retro, "status": "confirmed"}}
    plan = [plan_call(0, "get_calendar", {"calendar_id": "cal_0002"}, team, required=False, read_only=True),
            plan_call(1, "get_calendar", {"calendar_id": "cal_0003"}, room, required=False, read_only=True),
            plan_call(2, "create_event", retro, created, free=["description"],
                      depends=[Feed(src=0, field="calendar.id", param="calendar_id")])]
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Put a 30-minute Release retro on the Platform Team calendar this Wednesday at "
                                    "15:00 UTC, and tell me how many people fit in Boardroom 7.01."},
        {"role": "assistant", "content": None, "tool_calls": [
            call("call_1", "calendar__get_calendar", {"calendar_id": "cal_0002"}),
            call("call_2", "calendar__get_calendar", {"calendar_id": "cal_0003"})]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(team)},
        {"role": "tool", "tool_call_id": "call_2", "content": json.dumps(room)},
        {"role": "assistant", "content": None, "tool_calls": [call("call_3", "calendar__create_event", retro)]},
        {"role": "tool", "tool_call_id": "call_3", "content": json.dumps(created)},
        {"role": "assistant", "content": "Booked \"Release retro\" (evt_0040) on Platform Team for Wednesday "
                                         "15:00-15:30 UTC. Boardroom 7.01 seats 12."},
    ]
    task = Task(user="Priya Natarajan, team lead", goal="book the retro and learn the boardroom's size",
                communicate_info=[Fact(slot="capacity", value=12, said="12", step=1, param="calendar.max_attendees")])
    return trajectory(index, mode="single_turn", kind="normal", plan=plan, messages=messages, verified=verified,
                      topology="fan_in", task=task)


def multi_turn_record(index: int = 1) -> Trajectory:
    listed = {"events": [{"id": "evt_0031", "title": "1:1 Priya / Marcus", "start": "2026-03-03T10:00:00Z"}],
              "next_cursor": None}
    cancelled = {"event": {"id": "evt_0031", "status": "cancelled"}}
    plan = [plan_call(0, "list_events", {"calendar_id": "cal_0001", "start_after": "2026-03-03T00:00:00Z"}, listed,
                      read_only=True, turn=0),
            plan_call(1, "cancel_event", {"event_id": "evt_0031"}, cancelled, turn=1,
                      depends=[Feed(src=0, field="events[].id", param="event_id")])]
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What's on my work calendar from tomorrow on?"},
        {"role": "assistant", "content": None, "tool_calls": [
            call("call_1", "calendar__list_events", {"calendar_id": "cal_0001",
                                                     "start_after": "2026-03-03T00:00:00Z"})]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(listed)},
        {"role": "assistant", "content": "Tomorrow at 10:00 UTC you have \"1:1 Priya / Marcus\"."},
        {"role": "user", "content": "Marcus is out sick, please cancel that one."},
        {"role": "assistant", "content": None, "tool_calls": [
            call("call_2", "calendar__cancel_event", {"event_id": "evt_0031"})]},
        {"role": "tool", "tool_call_id": "call_2", "content": json.dumps(cancelled)},
        {"role": "assistant", "content": "Cancelled \"1:1 Priya / Marcus\" (evt_0031)."},
    ]
    task = Task(user="Priya Natarajan, team lead", goal="see tomorrow's events, then cancel the 1:1",
                communicate_info=[Fact(slot="event title", value="1:1 Priya / Marcus", said='"1:1 Priya / Marcus"',
                                       step=0, param="events[].title")])
    return trajectory(index, mode="multi_turn", kind="normal", plan=plan, messages=messages,
                      segments=["see tomorrow's events", "cancel the 1:1"], task=task)


def irrelevance_record(index: int = 2) -> Trajectory:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Will it rain in Lisbon on Wednesday?"},
        {"role": "assistant", "content": "I can't check the weather: my tools manage calendars and the shop only."},
    ]
    return trajectory(index, mode="single_turn", kind="irrelevance", plan=[], messages=messages,
                      envs=("calendar", "shop"), topology="none")


def records() -> list[Trajectory]:
    return [parallel_record(0), multi_turn_record(1), irrelevance_record(2), parallel_record(3, verified=False)]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / TRAJECTORIES).write_text("".join(t.to_line() for t in records()), encoding="utf-8")
    return run


@pytest.fixture
def hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`datasets`, offline, with every cache under tmp_path."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    import datasets

    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        if hasattr(datasets.config, name):
            monkeypatch.setattr(datasets.config, name, True)
    return datasets


def load_jsonl(hf: Any, path: Path, tmp_path: Path) -> list[dict[str, Any]]:
    ds = hf.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf-cache"))
    return [dict(r) for r in ds]


# --- formats ---------------------------------------------------------------------------------------------------------


def test_openai(run_dir: Path, tmp_path: Path, hf: Any) -> None:
    result = export(run_dir, "openai")
    assert result.path == run_dir / "openai.jsonl" and (result.rows, result.read, result.unverified) == (3, 4, 1)
    rows = load_jsonl(hf, result.path, tmp_path)
    assert len(rows) == 3
    parallel, multi, irrelevant = rows
    assert [m["role"] for m in parallel["messages"]] == ["system", "user", "assistant", "tool", "tool", "assistant",
                                                         "tool", "assistant"]
    calls = parallel["messages"][2]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["calendar__get_calendar"] * 2
    assert json.loads(calls[1]["function"]["arguments"]) == {"calendar_id": "cal_0003"}
    assert parallel["messages"][4]["tool_call_id"] == "call_2"
    assert {t["function"]["name"] for t in parallel["tools"]} >= {"calendar__create_event", "calendar__list_events"}
    assert parallel["tools"][0]["function"]["parameters"]["type"] == "object"
    assert sum(m["role"] == "user" for m in multi["messages"]) == 2
    assert irrelevant["messages"][-1]["content"].startswith("I can't check the weather")
    assert any(t["function"]["name"].startswith("shop__") for t in irrelevant["tools"])


def test_sharegpt(run_dir: Path, tmp_path: Path, hf: Any) -> None:
    result = export(run_dir, "sharegpt")
    rows = load_jsonl(hf, result.path, tmp_path)
    assert len(rows) == 3
    for row in rows:  # LLaMA-Factory: human/observation at odd positions, gpt/function_call at even, ends with gpt
        roles = [turn["from"] for turn in row["conversations"]]
        assert all(r in (("human", "observation") if i % 2 == 0 else ("gpt", "function_call"))
                   for i, r in enumerate(roles)), roles
        assert len(roles) % 2 == 0 and roles[-1] == "gpt"
        assert row["system"] == SYSTEM
        assert all({"name", "description", "parameters"} <= set(t) for t in json.loads(row["tools"]))
    parallel, multi, irrelevant = rows
    turns = parallel["conversations"]
    assert [t["from"] for t in turns] == ["human", "function_call", "observation", "function_call", "observation",
                                          "gpt"]
    assert json.loads(turns[1]["value"]) == [
        {"name": "calendar__get_calendar", "arguments": {"calendar_id": "cal_0002"}},
        {"name": "calendar__get_calendar", "arguments": {"calendar_id": "cal_0003"}}]
    results = json.loads(turns[2]["value"])
    assert [r["calendar"]["id"] for r in results] == ["cal_0002", "cal_0003"]
    single = json.loads(turns[3]["value"])
    assert single["name"] == "calendar__create_event" and single["arguments"]["title"] == "Release retro"
    assert json.loads(turns[4]["value"])["event"]["id"] == "evt_0040"
    assert [t["from"] for t in multi["conversations"]] == ["human", "function_call", "observation", "gpt"] * 2
    assert multi["conversations"][4]["value"] == "Marcus is out sick, please cancel that one."
    assert [t["from"] for t in irrelevant["conversations"]] == ["human", "gpt"]
    assert {t["name"].split("__")[0] for t in json.loads(irrelevant["tools"])} == {"calendar", "shop"}
    info = json.loads((run_dir / "dataset_info.json").read_text())
    assert info["sharegpt"]["file_name"] == "sharegpt.jsonl" and info["sharegpt"]["formatting"] == "sharegpt"
    assert info["sharegpt"]["columns"] == {"messages": "conversations", "system": "system", "tools": "tools"}


def test_llamafactory_alpaca_with_history(run_dir: Path, tmp_path: Path, hf: Any) -> None:
    (run_dir / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "mine.json"}}))
    export(run_dir, "sharegpt")
    result = export(run_dir, "llamafactory")
    rows = load_jsonl(hf, result.path, tmp_path)
    assert len(rows) == 3
    parallel, multi, irrelevant = rows
    assert parallel["input"] == "" and parallel["system"] == SYSTEM

    def calls(*names_args: tuple[str, dict[str, Any]]) -> str:
        return "\n".join(f"<tool_call>\n{json.dumps({'name': n, 'arguments': a}, ensure_ascii=False)}\n</tool_call>"
                         for n, a in names_args)

    def results(*outputs: Any) -> str:
        return "\n".join(f"<tool_response>\n{json.dumps(o)}\n</tool_response>" for o in outputs)

    # a round with tool calls is split at each result: the results open the next prompt, never a response
    first, second = parallel["history"]
    assert first[0].startswith("Put a 30-minute Release retro")
    assert first[1] == calls(("calendar__get_calendar", {"calendar_id": "cal_0002"}),
                             ("calendar__get_calendar", {"calendar_id": "cal_0003"}))
    assert second[0] == results({"calendar": {"id": "cal_0002", "name": "Platform Team", "allow_overlap": True}},
                                {"calendar": {"id": "cal_0003", "name": "Boardroom 7.01", "max_attendees": 12}})
    assert second[1].startswith('<tool_call>\n{"name": "calendar__create_event"') and "<tool_response>" not in second[1]
    assert parallel["instruction"].startswith('<tool_response>\n{"event": {"id": "evt_0040"')
    assert parallel["output"] == 'Booked "Release retro" (evt_0040) on Platform Team for Wednesday 15:00-15:30 UTC. ' \
                                 "Boardroom 7.01 seats 12."
    assert [h[0].split("\n")[0] for h in multi["history"]] == ["What's on my work calendar from tomorrow on?",
                                                             "<tool_response>",
                                                             "Marcus is out sick, please cancel that one."]
    assert multi["history"][1][1] == 'Tomorrow at 10:00 UTC you have "1:1 Priya / Marcus".'
    assert multi["history"][2][1] == calls(("calendar__cancel_event", {"event_id": "evt_0031"}))
    assert multi["instruction"] == results({"event": {"id": "evt_0031", "status": "cancelled"}})
    assert multi["output"] == 'Cancelled "1:1 Priya / Marcus" (evt_0031).'
    assert irrelevant["history"] == [] and irrelevant["output"].startswith("I can't check the weather")
    assert irrelevant["instruction"] == "Will it rain in Lisbon on Wednesday?"
    info = json.loads((run_dir / "dataset_info.json").read_text())
    assert set(info) == {"mine", "sharegpt", "llamafactory"}
    assert info["llamafactory"] == {"file_name": "llamafactory.jsonl", "formatting": "alpaca", "columns": {
        "prompt": "instruction", "query": "input", "response": "output", "system": "system", "history": "history",
        "tools": "tools"}}


def test_verl(run_dir: Path, tmp_path: Path, hf: Any) -> None:
    import pyarrow.parquet as pq

    result = export(run_dir, "verl")
    assert result.path == run_dir / "verl.parquet" and result.rows == 3
    table = pq.read_table(result.path)
    assert table.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    ds = hf.Dataset.from_parquet(str(result.path), cache_dir=str(tmp_path / "hf-cache"))
    rows = [dict(r) for r in ds]
    assert rows == table.to_pylist()
    parallel, multi, irrelevant = rows
    assert parallel["data_source"] == "calendar" and irrelevant["data_source"] == "calendar+shop"
    assert all(r["ability"] == "tool_use" and r["reward_model"]["style"] == "rule" for r in rows)
    assert [m["role"] for m in multi["prompt"]] == ["system", "user"]
    assert multi["prompt"][1]["content"] == "What's on my work calendar from tomorrow on?"
    truth = GroundTruth.model_validate_json(parallel["reward_model"]["ground_truth"])
    assert [c.name for c in truth.calls] == ["calendar__get_calendar"] * 2 + ["calendar__create_event"]
    create = truth.calls[2]
    assert create.free == ["description"] and create.required and not create.read_only
    assert create.depends[0].param == "calendar_id" and [c.required for c in truth.calls] == [False, False, True]
    assert truth.expected_state_hashes == {"calendar": "c" * 64} and "calendar__cancel_event" in truth.tools
    assert truth.kind == "normal" and [(f.slot, f.said, f.value) for f in truth.communicate] == [("capacity", "12", 12)]
    assert truth.read_only_tools == ["calendar__get_calendar"] and not truth.lookup_only
    flags = json.loads(irrelevant["reward_model"]["ground_truth"])
    assert (flags["kind"], flags["irrelevance"], flags["missing_info"]) == ("irrelevance", True, False)
    extra = parallel["extra_info"]
    assert (extra["id"], extra["index"], extra["mode"], extra["kind"]) == ("s7-000000-calendar", 0, "single_turn",
                                                                           "normal")
    assert extra["envs"] == ["calendar"] and json.loads(extra["scenarios"]) == {"calendar": "typical"}
    assert json.loads(extra["initial_states"])["calendar"]["now"] == "2026-03-02T08:30:00Z"
    assert json.loads(extra["expected_state_hashes"]) == {"calendar": "c" * 64} and extra["pass_rate"] == 0.75
    assert len(json.loads(extra["tools"])) == 11 and multi["extra_info"]["turns"] == 2
    assert GroundTruth.model_validate_json(irrelevant["reward_model"]["ground_truth"]).calls == []


def missing_info_record(index: int = 4) -> Trajectory:
    plan = [plan_call(0, "create_event", {"calendar_id": "cal_0002", "title": "Release retro",
                                          "start": "2026-03-04T15:00:00Z", "end": "2026-03-04T15:30:00Z"},
                      required=False)]
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Put a 30-minute Release retro on the Platform Team calendar."},
        {"role": "assistant", "content": "Happy to. Which day and time should it start?"},
    ]
    return trajectory(index, mode="single_turn", kind="missing_info", plan=plan, messages=messages)


def test_the_recorded_rollouts_score_one_against_their_own_ground_truth() -> None:
    for t in (parallel_record(), multi_turn_record(), irrelevance_record(), missing_info_record()):
        truth = GroundTruth.from_trajectory(t)
        score = score_messages(truth, t.messages)
        assert score.total == 1.0 and score.state_match is None, score.explanation
        assert score.told == (1.0 if t.task is not None else None)
    # records written before tasks existed: nothing to tell, the calls decide
    legacy = parallel_record().model_copy(update={"task": None})
    silent = [*legacy.messages[:-1], {"role": "assistant", "content": "Done."}]
    assert score_messages(GroundTruth.from_trajectory(legacy), silent).total == 1.0
    assert score_messages(GroundTruth.from_trajectory(parallel_record()), silent).total < 1.0


# --- errors and the CLI ----------------------------------------------------------------------------------------------


def test_bad_lines_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / TRAJECTORIES
    good = parallel_record().to_line()
    path.write_text(good + "{not json\n" + good)
    with pytest.raises(SynthError, match=r"trajectories\.jsonl: line 2 is not valid JSON$"):
        export(tmp_path, "openai")
    path.write_text(good + json.dumps({"format": "envfactory.trajectories/1", "id": "x"}) + "\n")
    with pytest.raises(SynthError, match=r"line 2 has format 'envfactory\.trajectories/1'"):
        export(tmp_path, "sharegpt")
    broken = json.loads(good)
    del broken["plan"]
    path.write_text(json.dumps(broken) + "\n")
    with pytest.raises(SynthError, match=r"line 1 is not a valid trajectory: plan: Field required"):
        export(tmp_path, "verl")
    with pytest.raises(SynthError, match="unknown format 'csv'"):
        export(tmp_path, "csv")


def test_cli(run_dir: Path, tmp_path: Path) -> None:
    import typer

    app = typer.Typer()
    app.command("export")(export_cli.export)
    app.command("noop")(lambda: None)  # keep `export` a subcommand
    runner = CliRunner()
    for fmt in FORMATS:
        res = runner.invoke(app, ["export", str(run_dir), "--format", fmt])
        suffix = "parquet" if fmt == "verl" else "jsonl"
        assert res.exit_code == 0, res.output + res.stderr
        assert f"wrote 3 {fmt} rows to {run_dir / f'{fmt}.{suffix}'}" in res.stdout
        assert "skipped 1 unverified of 4" in res.stdout
    out = tmp_path / "elsewhere" / "sft.jsonl"
    res = runner.invoke(app, ["export", str(run_dir / TRAJECTORIES), "--format", "llamafactory", "--out", str(out)])
    assert res.exit_code == 0 and len(out.read_text().splitlines()) == 3
    assert "sft" in json.loads((out.parent / "dataset_info.json").read_text())
    res = runner.invoke(app, ["export", str(run_dir), "--format", "csv"])
    assert res.exit_code == 1 and res.stderr.strip() == ("error: unknown format 'csv' (known: openai, sharegpt, "
                                                         "llamafactory, verl)")
    res = runner.invoke(app, ["export", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
    assert not list(run_dir.glob(".*.tmp")), "no temporary files are left behind"
