"""The model generator end to end, against a real OpenAI-compatible HTTP server playing scripted replies.

The API is the notes fixture's tools (its EnvSpec converted to an ApiModel); the "model" answers with the fixture's
own env.py, scenarios and checks, or broken variants of them. Every attempt is really written and verified.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from common.llm import LLMClient, LLMSettings, OfflineLLM
from registry.envdir import load_env_dir
from registry.spec import EnvSpec
from servers.factory.apimodel import ApiModel, Operation
from servers.factory.generators import model, prompts
from servers.factory.generators.model import (
    ModelBuildResult,
    extract_python,
    generate_with_model,
    validate_data,
)
from tests.fixtures.scripted_llm import ScriptedLLMServer, Step, delay, error

ROOT = Path(__file__).resolve().parents[3]
NOTES = ROOT / "tests" / "fixtures" / "envs" / "notes"

GOOD = (NOTES / "env.py").read_text(encoding="utf-8")
STORE = "    state.notes[note.id] = note\n"
BUGGY = GOOD.replace(STORE, "")  # create_note forgets to store the note: create_then_read fails
OPENS_FILE = GOOD.replace("def list_notes(state: State, limit: int = 20) -> dict:\n",
                          "def list_notes(state: State, limit: int = 20) -> dict:\n"
                          "    secrets = open('/etc/passwd').read()\n")
OPENS_SOCKET = "import socket\n\n" + GOOD.replace(
    "def get_note(state: State, note_id: str) -> dict:\n",
    "def get_note(state: State, note_id: str) -> dict:\n"
    "    socket.create_connection(('example.com', 80))\n")
LOOPS = GOOD.replace("    if not title.strip():\n", "    while True:\n        pass\n    if not title.strip():\n", 1)
DATA = {
    "scenarios": [json.loads((NOTES / "scenarios" / f"{n}.json").read_text(encoding="utf-8"))
                  for n in ("small", "empty", "full")],
    "checks": json.loads((NOTES / "checks.json").read_text(encoding="utf-8"))["checks"],
}
KEEP = '{"keep": true}'


def code(source: str) -> str:
    return f"Here is the complete env.py.\n\n```python\n{source}```\n"


def data(value: dict | None = None) -> str:
    return json.dumps(value or DATA)


def notes_api() -> ApiModel:
    """The notes fixture's EnvSpec as an ApiModel (importer "envspec")."""
    spec = EnvSpec.model_validate_json((NOTES / "env.json").read_text(encoding="utf-8"))
    operations = [Operation(tool=t.name, description=t.description, input_schema=t.input_schema,
                            output_schema=t.output_schema, annotations=t.annotations) for t in spec.tools]
    return ApiModel(name=spec.name, title="Notes", description=spec.description, domain=spec.domain,
                    source=str(NOTES / "env.json"), importer="envspec", operations=operations)


def client(server: ScriptedLLMServer, **overrides: object) -> LLMClient:
    settings = {"model": "scripted-coder", "base_url": server.base_url, "api_key": "test", "timeout": 5.0,
                "max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.05, **overrides}
    return LLMClient(LLMSettings.model_validate(settings))


def build(server: ScriptedLLMServer, tmp_path: Path, max_attempts: int = 3, **overrides: object
          ) -> ModelBuildResult:
    async def run() -> ModelBuildResult:
        async with client(server, **overrides) as llm:
            return await generate_with_model(notes_api(), tmp_path / "out", llm, work_dir=tmp_path / "work",
                                             max_attempts=max_attempts)
    return asyncio.run(run())


# --- (a) a buggy first draft, fixed by the revise loop -------------------------------------------------------------

def test_revise_loop_fixes_a_bug_and_admits_the_fixed_code(tmp_path: Path) -> None:
    with ScriptedLLMServer([code(BUGGY), data(), code(GOOD), KEEP]) as server:
        result = build(server, tmp_path)
    assert result.passed and result.attempts == 2, result.reason
    assert [r.verdict for r in result.records] == ["failed", "passed"]
    assert any("create_then_read" in f and "[behaviour]" in f for f in result.failures[0])
    assert len(server.requests) == 4
    revise = server.prompts()[2]
    assert "create_then_read" in revise and "Attempt 1 FAILED" in revise
    assert BUGGY.rstrip() in revise  # the previous code travels with its failures
    assert server.requests[1]["response_format"] == {"type": "json_object"}
    assert "response_format" not in server.requests[0]

    admitted = tmp_path / "out" / "notes"
    assert result.admitted == admitted
    text = (admitted / "env.py").read_text(encoding="utf-8")
    assert STORE in text and text == GOOD
    env = load_env_dir(admitted)
    assert env.is_verified()  # report.json passed and matches the admitted files' content hash
    assert result.report is not None and result.report.passed and result.report.attempts == 2
    prov = env.spec.provenance
    assert (prov.generator, prov.model, prov.attempts, prov.importer) == ("model", "scripted-coder", 2, "envspec")
    assert env.spec.state_schema["title"] == "State"
    assert sorted(env.scenarios) == ["empty", "full", "small"] and env.spec.default_scenario == "small"
    assert result.usage.requests == 4 and result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    # the failing attempt stays in work_dir with its report; it never reached out_dir
    failed_report = json.loads((tmp_path / "work" / "attempt-1" / "notes" / "report.json").read_text())
    assert failed_report["passed"] is False


# --- (b) prose instead of code ------------------------------------------------------------------------------------

def test_prose_reply_is_refused_fed_back_and_a_later_reply_passes(tmp_path: Path) -> None:
    prose = "Sure! To build a notes environment you would define a State class and four functions."
    with ScriptedLLMServer([prose, code(GOOD), data()]) as server:
        result = build(server, tmp_path)
    assert result.passed and result.attempts == 2
    assert result.records[0].verdict == "refused" and "fenced ```python block" in result.failures[0][0]
    assert "reply refused" in server.prompts()[1] and "produced no usable env.py" in server.prompts()[1]
    assert len(server.requests) == 3  # the refused prose never got a data request


def test_prose_until_attempts_run_out_gives_a_clear_reason(tmp_path: Path) -> None:
    with ScriptedLLMServer(["I cannot write code today."] * 2) as server:
        result = build(server, tmp_path, max_attempts=2)
    assert not result.passed and result.attempts == 2 and result.infra_error is None
    assert "no passing attempt in 2" in result.reason and "expected env.py" in result.reason
    assert result.report is None and not (tmp_path / "out").exists()


# --- (c) infrastructure: timeouts, 429/500, exhausted retries ------------------------------------------------------

def test_timeout_429_and_500_are_retried_not_counted_as_attempts(tmp_path: Path) -> None:
    script: list[Step | str] = [delay(2.0, code(BUGGY)), error(429), error(500), code(GOOD), error(503), data()]
    with ScriptedLLMServer(script) as server:
        result = build(server, tmp_path, timeout=0.5)
    assert result.passed and result.attempts == 1, result.reason
    assert result.usage.retries == 4 and result.usage.requests == 6
    assert result.infra_error is None
    assert (tmp_path / "out" / "notes" / "env.py").read_text(encoding="utf-8") == GOOD


def test_exhausted_retries_are_an_infrastructure_failure(tmp_path: Path) -> None:
    with ScriptedLLMServer([error(500), error(429), error(500)]) as server:
        result = build(server, tmp_path, max_retries=2)
    assert not result.passed and result.attempts == 0 and result.records == []
    assert result.infra_error and "failed after 3 tries" in result.infra_error and "HTTP 500" in result.infra_error
    assert result.reason.startswith("infrastructure failure")
    assert result.usage.retries == 2 and not (tmp_path / "out").exists()


# --- (d) hostile code ----------------------------------------------------------------------------------------------

def test_file_socket_and_endless_loop_are_refused_and_never_admitted(tmp_path: Path) -> None:
    with ScriptedLLMServer([code(OPENS_FILE), code(OPENS_SOCKET), code(LOOPS), data()]) as server:
        result = build(server, tmp_path)
    assert not result.passed and result.attempts == 3
    assert [r.verdict for r in result.records] == ["refused", "refused", "failed"]
    assert any("builtin 'open' is not allowed" in f for f in result.failures[0])
    assert any("import of 'socket' is not allowed" in f for f in result.failures[1])
    assert any("timed out" in f and "create_note" in f for f in result.failures[2])
    assert "builtin 'open' is not allowed" in server.prompts()[1]  # the reason was fed back, with the line quoted
    assert "The env.py lines named in the failures:\n- env.py:24: secrets = open('/etc/passwd').read()" in (
        server.prompts()[1])
    assert "import of 'socket' is not allowed" in server.prompts()[2]
    # statically refused code was never written, let alone run
    assert not (tmp_path / "work" / "attempt-1" / "notes").exists()
    assert not (tmp_path / "work" / "attempt-2" / "notes").exists()
    assert not (tmp_path / "out").exists()
    assert result.report is not None and not result.report.passed


# --- (e) resume -----------------------------------------------------------------------------------------------------

def test_resume_continues_after_the_last_finished_attempt_and_stage(tmp_path: Path) -> None:
    # run 1: attempt 1 fails verification; attempt 2's code arrives, then the endpoint goes down
    with ScriptedLLMServer([code(BUGGY), data(), code(GOOD)]) as first:
        one = build(first, tmp_path, max_attempts=2, max_retries=1)
    assert not one.passed and one.attempts == 1 and one.infra_error
    checkpoint = json.loads((tmp_path / "work" / "checkpoint.json").read_text())
    assert [(a["n"], a["verdict"]) for a in checkpoint["attempts"]] == [(1, "failed")]
    assert (tmp_path / "work" / "attempt-2" / "code.json").is_file()

    # run 2, fresh script: neither attempt 1 nor attempt 2's code is asked for again
    with ScriptedLLMServer([KEEP]) as second:
        two = build(second, tmp_path, max_attempts=2)
    assert two.passed and two.attempts == 2 and two.resumed == 1, two.reason
    assert len(second.requests) == 1 and second.requests[0]["response_format"] == {"type": "json_object"}
    assert "create_then_read" in second.prompts()[0]  # the checkpointed failures still drive the revision
    assert (tmp_path / "out" / "notes" / "env.py").read_text(encoding="utf-8") == GOOD
    assert two.usage.requests == one.usage.requests + 1 and two.usage.retries == one.usage.retries == 1

    # run 3: already passed, nothing to ask
    offline = OfflineLLM([])
    three = asyncio.run(generate_with_model(notes_api(), tmp_path / "out", offline, work_dir=tmp_path / "work",
                                            max_attempts=2))
    assert three.passed and offline.requests == []


# --- pieces ---------------------------------------------------------------------------------------------------------

def test_extract_python_takes_the_first_python_block_and_refuses_prose() -> None:
    assert extract_python("x\n```python\na = 1\n```\n```python\nb = 2\n```")[0] == "a = 1\n"
    assert extract_python("```\nclass State:\n    pass\n```")[0] == "class State:\n    pass\n"
    assert extract_python("```python\nunterminated = 1\n")[0] == "unterminated = 1\n"
    code_, problem = extract_python("I think you should store the note.")
    assert code_ is None and "prose" in problem
    code_, problem = extract_python("```json\n{}\n```")
    assert code_ is None and "none in Python" in problem


def test_validate_data_names_the_problems() -> None:
    api = notes_api()
    assert validate_data(DATA, api) == []
    bad = {"scenarios": DATA["scenarios"][:2], "checks": [{"id": "x", "scenario": "nope",
                                                          "calls": [{"tool": "fly", "arguments": {}}]}]}
    problems = validate_data(bad, api)
    assert any("need at least 3" in p for p in problems)
    assert any("unknown scenario 'nope'" in p for p in problems)
    assert any("unknown tool 'fly'" in p for p in problems)
    assert validate_data([], api) == ["scenarios/checks reply must be a JSON object, got list"]


def test_a_checkpoint_of_another_api_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    asyncio.run(generate_with_model(notes_api(), tmp_path / "out", OfflineLLM(["no code"]), work_dir=work,
                                    max_attempts=1))
    other = notes_api().model_copy(update={"title": "Other notes"})
    with pytest.raises(ValueError, match="different API"):
        asyncio.run(generate_with_model(other, tmp_path / "out", OfflineLLM([]), work_dir=work))


def test_a_reply_cut_off_at_the_token_limit_says_so(tmp_path: Path) -> None:
    cut = Step(content="```python\nfrom pydantic import BaseModel\n\nclass State(", finish_reason="length")
    with ScriptedLLMServer([cut]) as server:
        result = build(server, tmp_path, max_attempts=1)
    assert not result.passed and result.records[0].verdict == "refused"
    assert "cut off at the completion token limit" in result.failures[0][0]
    assert any("[static]" in f for f in result.failures[0])


# --- the State-schema probe and the prompt context -------------------------------------------------------------------

def test_code_that_hangs_at_import_fails_the_attempt_before_verification(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "PROBE_TIMEOUT", 2.0)
    hangs = GOOD + "\n_SPIN = 0\nwhile _SPIN >= 0:\n    _SPIN += 1\n"
    result = asyncio.run(generate_with_model(notes_api(), tmp_path / "out", OfflineLLM([code(hangs), data()]),
                                             work_dir=tmp_path / "work", max_attempts=1))
    assert not result.passed and result.records[0].verdict == "failed", result.reason
    assert result.failures[0] == ["[contract] env.py did not finish importing within 2 s (a loop at module level?)"]
    assert result.report is None, "verification never ran"


def test_code_that_does_not_load_is_left_to_verification(tmp_path: Path) -> None:
    broken = GOOD + "\nraise RuntimeError('boom at import')\n"
    result = asyncio.run(generate_with_model(notes_api(), tmp_path / "out", OfflineLLM([code(broken), data()]),
                                             work_dir=tmp_path / "work", max_attempts=1))
    assert not result.passed and result.records[0].verdict == "failed"
    assert any(f.startswith("[contract]") and "boom at import" in f for f in result.failures[0]), result.failures
    env_json = json.loads((tmp_path / "work" / "attempt-1" / "notes" / "env.json").read_text(encoding="utf-8"))
    assert env_json["state_schema"] == {}, "no schema could be probed, and none was invented"


def test_prompt_context_is_package_data_and_its_absence_is_loud(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts.contract_text.cache_clear()
    assert "State" in prompts.contract_text() and "list_calendars" in prompts.reference_excerpt()
    monkeypatch.setattr(prompts, "CONTRACT_DOC", ("registry", "no-such-contract.md"))
    prompts.contract_text.cache_clear()
    with pytest.raises(prompts.PromptContextError, match="registry/no-such-contract.md is missing"):
        prompts.system_prompt()
    monkeypatch.undo()
    prompts.contract_text.cache_clear()
