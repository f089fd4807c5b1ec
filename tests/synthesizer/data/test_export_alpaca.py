"""The alpaca export keeps tool results out of every training target (`output` and history responses) and still
carries the whole conversation, in order: checked on the fixture records and on a real offline run over the notes
fixture server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from synthesizer.data.export import alpaca_row, export, read_trajectories
from synthesizer.data.records import Trajectory
from synthesizer.run import SynthConfig, synthesize
from tests.synthesizer.data.test_export import irrelevance_record, multi_turn_record, parallel_record

PROMPT, RESPONSE = "prompt", "response"


def pieces(t: Trajectory) -> list[tuple[str, str]]:
    """Every piece of the conversation with the side it belongs to: user text and tool results are prompts,
    the assistant's text and calls are responses."""
    out: list[tuple[str, str]] = []
    for m in t.messages:
        role, content = m.get("role"), m.get("content") or ""
        if role == "user":
            out.append((PROMPT, content))
        elif role == "tool":
            out.append((PROMPT, f"<tool_response>\n{content}\n</tool_response>"))
        elif role == "assistant":
            if content:
                out.append((RESPONSE, content))
            for c in m.get("tool_calls") or []:
                call = {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"] or "{}")}
                out.append((RESPONSE, f"<tool_call>\n{json.dumps(call, ensure_ascii=False)}\n</tool_call>"))
    return out


def segments(row: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for prompt, response in [*row["history"], [row["instruction"], row["output"]]]:
        out += [(PROMPT, prompt), (RESPONSE, response)]
    return out


def assert_targets_clean_and_complete(t: Trajectory, row: dict[str, Any]) -> None:
    segs = segments(row)
    results = [m.get("content") or "" for m in t.messages if m.get("role") == "tool"]
    for side, text in segs:
        if side == RESPONSE:
            assert "<tool_response>" not in text, (t.id, text)
            assert not any(r in text for r in results if len(r) > 12), (t.id, text)
    # every piece, in order, on its own side; nothing else in any segment (pieces are cut out of it one by one)
    rest = [text for _, text in segs]
    k = 0
    for side, piece in pieces(t):
        while k < len(segs) and (segs[k][0] != side or piece not in rest[k]):
            assert not rest[k].strip(), (t.id, k, rest[k])  # a segment left with text nobody said
            k += 1
        assert k < len(segs), (t.id, side, piece)
        at = rest[k].index(piece)
        assert not rest[k][:at].strip(), (t.id, rest[k][:at])  # nothing between two pieces
        rest[k] = rest[k][at + len(piece):]
    assert all(not r.strip() for r in rest[k:]), (t.id, rest[k:])
    assert segs[-1][0] == RESPONSE and row["output"] and row["instruction"]


def test_fixture_records() -> None:
    for t in (parallel_record(), multi_turn_record(), irrelevance_record()):
        assert_targets_clean_and_complete(t, alpaca_row(t))


def test_a_real_offline_run(tmp_path: Path, notes_url: str) -> None:
    config = SynthConfig(n=16, seed=3, out=tmp_path / "run", urls=[notes_url], progress=False)
    asyncio.run(synthesize(config))
    result = export(tmp_path / "run", "llamafactory")
    records = [t for t in read_trajectories(tmp_path / "run") if t.checks.verified]
    rows = [json.loads(line) for line in result.path.read_text(encoding="utf-8").splitlines()]
    assert result.problems == [] and len(rows) == len(records) == 16
    assert sum(1 for t in records if any(m.get("role") == "tool" for m in t.messages)) >= 8, "too few tool rows"
    for t, row in zip(records, rows, strict=True):
        assert_targets_clean_and_complete(t, row)
