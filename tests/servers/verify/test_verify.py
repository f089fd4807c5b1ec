"""Verification end to end: the notes fixture passes all six checks; each broken variant fails exactly where it should.

The broken variants are built at test time by tests/broken_envs.make_broken (a copy of notes with one defect).
Every test verifies a copy in tmp_path (the repository stays clean) and is independent, so `pytest -n auto` spreads
them over workers; each costs about one worker process plus one stdio server (~1-2 s), the looping one ~5 s.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from registry.envdir import load_env_dir
from registry.spec import CHECK_ORDER, VerificationReport
from servers.verify.verifier import verify_env
from tests.broken_envs import make_broken

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NOTES = FIXTURES / "envs" / "notes"


def copy_env(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "report.json"))
    return dst


def by_name(report: VerificationReport) -> dict[str, object]:
    return {c.name: c for c in report.checks}


def test_notes_passes_all_six_and_writes_report(tmp_path: Path) -> None:
    env = copy_env(NOTES, tmp_path)
    report = verify_env(env)
    assert [c.name for c in report.checks] == list(CHECK_ORDER)
    assert report.passed, report.summary + "\n" + "\n".join(f for c in report.checks for f in c.failures)
    assert all(c.passed and c.summary and not c.failures for c in report.checks)
    written = json.loads((env / "report.json").read_text(encoding="utf-8"))
    assert VerificationReport.model_validate(written) == report
    assert written["env_hash"] == load_env_dir(env).content_hash()
    assert load_env_dir(env).is_verified()
    checks = by_name(report)
    assert checks["robustness"].details["fuzz_calls"] >= 20 * 4  # ~20 fuzzed calls per tool
    assert checks["robustness"].details["schema_violation_cases"] > 0
    assert checks["protocol"].details["replayed_checks"] == 3
    assert "replay" not in checks["behaviour"].details  # bulky evidence stays out of report.json
    assert report.generator == "hand-written"


def test_write_report_false_leaves_directory_untouched(tmp_path: Path) -> None:
    env = make_broken("static", tmp_path)
    verify_env(env, write_report=False)
    assert not (env / "report.json").exists()


# (broken variant, failing check, substrings of its failures, checks that must still pass)
CASES = [
    ("broken_static", "static", ["env.py:", "'os'"], []),
    ("broken_contract", "contract", ["create_note", "body", "text"], ["static", "protocol", "behaviour"]),
    ("broken_protocol", "protocol", ["reset", "control-plane", "get_note", "description"],
     ["static", "contract", "behaviour", "robustness", "determinism"]),
    ("broken_behaviour", "behaviour", ["create_then_read", "PLAN"],
     ["static", "contract", "protocol", "robustness", "determinism"]),
    ("broken_robustness", "robustness", ["get_note", "KeyError", "env.py:"],
     ["static", "contract", "protocol", "behaviour", "determinism"]),
    ("broken_determinism", "determinism", ["create_note", "differs between runs", "sequence"],
     ["static", "contract", "protocol", "behaviour", "robustness"]),
]


@pytest.mark.parametrize(("fixture", "failing", "needles", "passing"), CASES, ids=[c[0] for c in CASES])
def test_broken_fixture_fails_the_right_check(tmp_path: Path, fixture: str, failing: str, needles: list[str],
                                              passing: list[str]) -> None:
    env = make_broken(fixture.removeprefix("broken_"), tmp_path)
    start = time.monotonic()
    report = verify_env(env)
    assert time.monotonic() - start < 60
    checks = by_name(report)
    assert not report.passed
    failed = checks[failing]
    assert not failed.passed
    text = "\n".join(failed.failures)
    for needle in needles:
        assert needle in text, f"{needle!r} not in {failing} failures:\n{text}"
    assert failed.summary and not failed.summary.startswith("skipped")
    for name in passing:
        assert checks[name].passed, f"{name} should pass: {checks[name].failures}"
    assert VerificationReport.model_validate_json((env / "report.json").read_text(encoding="utf-8")) == report


def test_static_failure_skips_everything_else(tmp_path: Path) -> None:
    report = verify_env(make_broken("static", tmp_path), write_report=False)
    rest = [c for c in report.checks if c.name != "static"]
    assert len(rest) == 5
    assert all(not c.passed and c.summary == "skipped: static check failed" for c in rest)


def test_infinite_loop_fails_with_a_timeout_in_bounded_time(tmp_path: Path) -> None:
    start = time.monotonic()
    report = verify_env(make_broken("timeout", tmp_path), write_report=False)
    assert time.monotonic() - start < 60
    checks = by_name(report)
    assert any("get_missing" in f and "timed out" in f for f in checks["behaviour"].failures)
    assert any("get_note" in f and "timed out" in f for f in checks["robustness"].failures)
    assert all(checks[n].passed for n in ("static", "contract", "protocol", "determinism"))


def test_worker_wall_timeout_fails_the_worker_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import servers.verify.verifier

    monkeypatch.setattr(servers.verify.verifier, "WORKER_TIMEOUT", 0.01)
    report = verify_env(copy_env(NOTES, tmp_path), write_report=False)
    checks = by_name(report)
    for name in ("contract", "behaviour", "robustness", "determinism"):
        assert not checks[name].passed and "timed out" in checks[name].failures[0]
    assert not report.passed


def test_unloadable_env_json_gives_a_contract_failure(tmp_path: Path) -> None:
    env = copy_env(NOTES, tmp_path)
    (env / "env.json").write_text('{"name": "notes", "tools": []}', encoding="utf-8")
    report = verify_env(env)
    checks = by_name(report)
    assert checks["static"].passed
    assert not checks["contract"].passed and "env.json" in checks["contract"].failures[0]
    assert all(checks[n].summary.startswith("skipped") for n in ("protocol", "behaviour", "robustness"))
    assert (env / "report.json").exists()


def test_invalid_scenario_and_schema_mismatch_fail_contract(tmp_path: Path) -> None:
    env = copy_env(NOTES, tmp_path)
    scenario = json.loads((env / "scenarios" / "small.json").read_text(encoding="utf-8"))
    scenario["state"]["notes"]["note_0001"]["title"] = 42
    (env / "scenarios" / "small.json").write_text(json.dumps(scenario), encoding="utf-8")
    spec = json.loads((env / "env.json").read_text(encoding="utf-8"))
    spec["state_schema"] = {"type": "object", "title": "State"}
    (env / "env.json").write_text(json.dumps(spec), encoding="utf-8")
    contract = by_name(verify_env(env, write_report=False))["contract"]
    text = "\n".join(contract.failures)
    assert "scenarios/small.json" in text and "notes.note_0001.title" in text
    assert "state_schema differs" in text
