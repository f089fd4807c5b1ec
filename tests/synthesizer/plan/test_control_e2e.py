"""Over a server that exposes `load_scenario`/`save_scenario`/`reset_state` beside its domain tools (an SDK
MCPServer over stdio), no sample asks for or makes a control call; the controls are still listed to the model."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path

from synthesizer.data.records import split_qualified
from synthesizer.run import TRAJECTORIES, SynthConfig, synthesize

SERVER = Path(__file__).with_name("scenario_server.py")
CONTROLS = {"load_scenario", "save_scenario", "reset_state"}


def test_no_sample_is_about_the_server_controls(tmp_path: Path) -> None:
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(SERVER))}"
    summary = asyncio.run(synthesize(SynthConfig(n=5, seed=0, out=tmp_path / "run", stdio=[command], progress=False,
                                                 concurrency=1)))
    records = [json.loads(x) for x in (tmp_path / "run" / TRAJECTORIES).read_text(encoding="utf-8").splitlines()]
    assert summary.count == len(records) >= 4 and summary.failed_servers == {}
    made = 0
    for r in records:
        shown = {split_qualified(t["function"]["name"])[1] for t in r["tools"]}
        assert shown >= CONTROLS | {"list_events", "create_event"}  # listed, not hidden
        assert not {p["tool"] for p in r["plan"]} & CONTROLS
        calls = {split_qualified(tc["function"]["name"])[1] for m in r["messages"] for tc in m.get("tool_calls") or []}
        assert not calls & CONTROLS
        made += len(r["plan"])
        said = " ".join(m.get("content") or "" for m in r["messages"] if m["role"] == "user").lower()
        assert "scenario" not in said and "reset" not in said, said
    assert made >= 3
