"""Bad rollouts planted in real offline runs over the shop environment (stdio MCP, its own scenarios) are rejected,
each with the verification component that caught it named in the run's rejections; the honest run beside them
keeps its records. Plus the components on hand-made inputs, so each is seen failing alone."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from registry.envdir import find_env
from synthesizer import pipeline
from synthesizer.data.records import Fact, Reference, Task
from synthesizer.query.roles import offline
from synthesizer.query.roles.base import AssistantTurn
from synthesizer.query.roles.honest import HonestAssistant, _get_path
from synthesizer.rollout.grounding_checks import ambiguous_references, seen, unexplained_values, untold_facts
from synthesizer.run import SynthConfig, synthesize

N = 24


def shop_config(tmp: Path) -> Path:
    server = find_env("shop").path / "server.py"
    cfg = tmp / "mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"shop": {"command": sys.executable, "args": [str(server)]}}}),
                   encoding="utf-8")
    return cfg


def run_shop(tmp: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    out = tmp / "run"
    summary = asyncio.run(synthesize(SynthConfig(n=N, seed=3, out=out, mcp_config=shop_config(tmp), progress=False,
                                                 concurrency=2)))
    records = [json.loads(line) for line in (out / "trajectories.jsonl").read_text(encoding="utf-8").splitlines()]
    return records, summary.rejected


def writes(record: dict[str, Any]) -> bool:
    return any(not c["read_only"] for c in record["plan"])


class WrongRecord(HonestAssistant):
    """Acts on another record of the same list than the one the user named (the first that is not it)."""

    def _found(self, src: int, field: str, j: int, refs: dict[int, Reference]) -> Any:
        right = super()._found(src, field, j, refs)
        if self.s.plan is None or self.s.plan.steps[j].read_only or "[]" not in field:
            return right
        others = [v for v, _ in _get_path(self.outputs.get(src), field) if v != right]
        return others[0] if others else right


class Inventor(HonestAssistant):
    """Adds a value nobody gave to every write (a note the user never wrote)."""

    def _arguments(self, j: int, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
        args = super()._arguments(j, messages)
        if args is not None and self.s.plan is not None and not self.s.plan.steps[j].read_only:
            tool = self.s.tools[self.s.plan.steps[j].name]
            for name, schema in tool.input_schema.get("properties", {}).items():
                if name not in args and schema.get("type") == "string" and not name.endswith("_id"):
                    args[name] = "Invented by the assistant 4417"
                    break
        return args


class Silent(HonestAssistant):
    """Does the work, then answers without saying anything it found."""

    async def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AssistantTurn:
        turn = await super().act(messages, tools)
        if not turn.tool_calls and self.s.kind in ("normal", "distractors") and self.s.told is not None:
            return AssistantTurn(content="Done.")
        return turn


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, int]]:
    return run_shop(tmp_path_factory.mktemp("honest"))


def planted(tmp: Path, monkeypatch: pytest.MonkeyPatch, assistant: type) -> tuple[list[dict[str, Any]],
                                                                                  dict[str, int]]:
    monkeypatch.setattr(offline, "HonestAssistant", assistant)
    return run_shop(tmp)


def test_the_honest_run_keeps_writes_and_lookups(honest: tuple[list[dict[str, Any]], dict[str, int]]) -> None:
    records, _ = honest
    assert len(records) == N
    assert sum(writes(r) for r in records) >= 4
    assert all(r["checks"]["verified"] and not r["checks"]["unexplained"] for r in records)


def test_a_write_on_the_wrong_record_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 honest: tuple[list[dict[str, Any]], dict[str, int]]) -> None:
    records, rejected = planted(tmp_path, monkeypatch, WrongRecord)
    assert rejected.get("rollout not verified: wrong record", 0) >= 1
    assert honest[1].get("rollout not verified: wrong record", 0) == 0
    assert all(not r["checks"]["wrong_records"] for r in records)


def test_an_invented_value_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records, rejected = planted(tmp_path, monkeypatch, Inventor)
    assert rejected.get("rollout not verified: unexplained argument value", 0) >= 1
    assert not any("Invented by the assistant" in json.dumps(r["messages"]) for r in records)


def test_a_silent_answer_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records, rejected = planted(tmp_path, monkeypatch, Silent)
    assert rejected.get("rollout not verified: answer leaves out a fact", 0) >= 1
    assert all(r["task"] is None or not r["task"]["communicate_info"] or r["kind"] not in ("normal", "distractors")
               for r in records)


def test_an_ambiguous_reference_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reference's description is emptied after the task is built (it then fits every record of its
    collection): no sample with a reference may be kept, and the ambiguity is what is named."""
    real = pipeline.build_task

    def vague(*args: Any, **kwargs: Any) -> Any:
        told = real(*args, **kwargs)
        for ref in told.task.references:
            ref.match = {}
        return told

    monkeypatch.setattr(pipeline, "build_task", vague)
    records, rejected = run_shop(tmp_path)
    assert rejected.get("rollout not verified: ambiguous reference", 0) >= 1
    assert all(not (r["task"] or {}).get("references") for r in records)


# --- the components alone ---------------------------------------------------------------------------------------


def test_ambiguity_is_recomputed_from_the_state() -> None:
    state = {"orders": {"o1": {"id": "o1", "day": "2026-03-02"}, "o2": {"id": "o2", "day": "2026-03-02"}}}
    ref = Reference(entity="order", said="my order from March 2", server="shop", collection="orders", record_id="o1",
                    match={"day": "2026-03-02"}, candidates=1)
    task = Task(user="u", goal="g", references=[ref])
    assert ambiguous_references(task, {"shop": state}) == ["'my order from March 2' fits 2 records of orders"]
    state["orders"]["o2"]["day"] = "2026-03-03"
    assert ambiguous_references(task, {"shop": state}) == []


def test_values_must_come_from_the_conversation() -> None:
    msgs = [{"role": "system", "content": "You help."}, {"role": "user", "content": "Book it for Tuesday, March 3."},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {
                "name": "s__book", "arguments": json.dumps({"date": "2026-03-03", "seat": "12C", "n": 2})}}]}]
    bad, total = unexplained_values(msgs)
    assert total == 3 and bad == ["book: '12C'", "book: 2"]
    assert seen(6449, "the total is 64.49") and not seen(6449, "the total is 64")


def test_untold_facts_are_named() -> None:
    task = Task(user="u", goal="g", communicate_info=[Fact(slot="status", value="shipped", said="shipped")])
    quiet = [{"role": "assistant", "content": "Done."}]
    told = [{"role": "assistant", "content": "Your order has shipped."}]
    assert untold_facts(task, quiet) == ["status: shipped"] and untold_facts(task, told) == []
