"""The shared environment writer and the State-schema probe: the directory layout, and env.py loaded only in a child."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from common.procs import child_env, module_argv, project_root
from registry.envdir import load_env_dir
from registry.spec import EnvSpec, Scenario
from servers.factory import envwriter
from servers.factory.envwriter import ProbeError, ProbeTimeout
from tests.conftest import NOTES

GOOD = (NOTES / "env.py").read_text(encoding="utf-8")
SCENARIOS = [Scenario.model_validate_json((NOTES / "scenarios" / f"{n}.json").read_text(encoding="utf-8"))
             for n in ("small", "empty", "full")]
CHECKS = json.loads((NOTES / "checks.json").read_text(encoding="utf-8"))["checks"]


def notes_spec() -> EnvSpec:
    spec = EnvSpec.model_validate_json((NOTES / "env.json").read_text(encoding="utf-8"))
    spec.state_schema = {}
    return spec


def write(tmp_path: Path, code: str = GOOD, scenarios: list[Scenario] | None = None) -> tuple[Path, EnvSpec]:
    target, spec = tmp_path / "notes", notes_spec()
    envwriter.write_env_dir(target, code=code, scenarios=scenarios or SCENARIOS, checks=CHECKS, spec=spec)
    return target, spec


def test_a_written_directory_loads_and_the_probe_records_the_state_schema(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "stale.txt").write_text("from an earlier attempt")
    target, spec = write(tmp_path)
    assert not (target / "stale.txt").exists(), "the directory is replaced, not merged"
    assert sorted(p.name for p in target.iterdir()) == ["checks.json", "env.json", "env.py", "scenarios", "server.py"]
    raw = json.loads((target / "env.json").read_text(encoding="utf-8"))
    assert raw["state_schema"] == {} and "model" not in raw["provenance"], "unset optional fields are left out"

    found = envwriter.probe_state(target, timeout=60)
    assert found.schema["title"] == "State" and found.problems == []
    envwriter.set_state_schema(target, spec, found.schema)
    env = load_env_dir(target)
    assert env.spec.state_schema == found.schema and env.spec.tools == spec.tools
    assert sorted(env.scenarios) == ["empty", "full", "small"]


def test_scenarios_that_do_not_fit_the_state_are_problems_not_failures(tmp_path: Path) -> None:
    broken = SCENARIOS[0].model_copy(update={"state": {**SCENARIOS[0].state, "notes": {"n1": {"id": 1}}}})
    target, _ = write(tmp_path, scenarios=[broken, *SCENARIOS[1:]])
    found = envwriter.probe_state(target, timeout=60)
    assert found.schema["title"] == "State"
    assert len(found.problems) == 1 and found.problems[0].startswith("scenario small:")


def test_code_that_does_not_load_is_a_probe_error_with_the_cause(tmp_path: Path) -> None:
    target, _ = write(tmp_path, code=GOOD + "\nraise RuntimeError('boom at import')\n")
    with pytest.raises(ProbeError, match="boom at import") as caught:
        envwriter.probe_state(target, timeout=60)
    assert not isinstance(caught.value, ProbeTimeout)


def test_code_that_hangs_at_import_is_a_probe_timeout(tmp_path: Path) -> None:
    target, _ = write(tmp_path, code=GOOD + "\nwhile True:\n    pass\n")
    with pytest.raises(ProbeTimeout, match="timed out after 2 s"):
        envwriter.probe_state(target, timeout=2)


def test_children_import_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    assert (project_root() / "common" / "procs.py").is_file()
    assert child_env()["PYTHONPATH"].split(os.pathsep) == [str(project_root()), "/elsewhere"]
    assert child_env({})["PYTHONPATH"] == str(project_root())
    assert module_argv("servers.factory.probe", "x")[1:] == ["-m", "servers.factory.probe", "x"]
