"""Model-played roles end to end: `synthesize` against the real notes MCP server (HTTP), every LLM request answered
by a ScriptedLLMServer whose responder routes by what the request is (planner/writer/refiner/judge: one JSON-mode
user prompt; the user simulator: a system prompt starting "You play"; the assistant: a request carrying `tools`).

The scripted assistant replays the conversation of an offline run with the same seed: the gold plan of a sample
depends only on (seed, index, attempt), so the offline record of index 0 (made at attempt 0) tells the scripted
model which calls the task needs; the calls themselves go over MCP to the notes server in the run's own episodes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from envfactory.cli import synthesize as cli
from synthesizer.errors import SynthError
from synthesizer.query.roles.factory import ROLE_NAMES
from synthesizer.query.roles.prompts import prompt_hash
from synthesizer.rollout.conversation import MAX_STEPS, MAX_TURNS
from synthesizer.run import MANIFEST, TRAJECTORIES, SynthConfig, synthesize
from tests.conftest import free_port
from tests.fixtures.scripted_llm import ScriptedLLMServer, Step, text, tool_calls

MODEL = "scripted-model"
PERSONA = {"name": "Ada Quill", "role": "archivist", "situation": "tidying up before a trip"}
GOAL = "I want my notes in order before I leave."
# index 0 of these seeds (made at attempt 0 offline): a multi-turn chain, a single create_note, a single list_notes
MULTI_TURN_SEED, CREATE_SEED, LIST_SEED = 11, 6, 9
REFUSAL = "Sorry, I cannot help with that."

Record = dict[str, Any]


# --- fixtures ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offline(notes_url: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Record]:
    """The offline record of index 0 for a seed (cached per module): what the scripted model replays."""
    cache: dict[int, Record] = {}

    def get(seed: int) -> Record:
        if seed not in cache:
            out = tmp_path_factory.mktemp(f"offline-{seed}")
            summary = asyncio.run(synthesize(SynthConfig(n=1, seed=seed, out=out, urls=[notes_url], concurrency=1,
                                                         progress=False)))
            rec = lines(out)[0]
            # the plan is the model run's only when index 0 was made at attempt 0 (same seeded rng)
            assert summary.attempts == 1 and rec["index"] == 0, f"seed {seed}: pick another seed ({summary})"
            assert rec["refinement"]["rounds"] == 0
            cache[seed] = rec
        return cache[seed]

    return get


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    def point_at(base_url: str) -> None:
        monkeypatch.setenv("ENVFACTORY_LLM_BASE_URL", base_url)
        monkeypatch.setenv("ENVFACTORY_LLM_API_KEY", "test-key")
        monkeypatch.setenv("ENVFACTORY_LLM_MODEL", MODEL)
        monkeypatch.setenv("ENVFACTORY_LLM_MAX_RETRIES", "0")
        monkeypatch.setenv("ENVFACTORY_LLM_TIMEOUT", "10")

    return point_at


# --- helpers ----------------------------------------------------------------------------------------------------------

def lines(out: Path) -> list[Record]:
    path = out / TRAJECTORIES
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def manifest(out: Path) -> Record:
    return json.loads((out / MANIFEST).read_text(encoding="utf-8"))


def run(out: Path, url: str, seed: int, roles: list[str], n: int = 1, max_attempts: int = 1):
    return asyncio.run(synthesize(SynthConfig(n=n, seed=seed, out=out, urls=[url], model_roles=roles,
                                              concurrency=1, progress=False, max_attempts=max_attempts)))


def role_of(body: Record) -> str:
    """Which role sent a chat request (the prompts of synthesizer/query/roles/prompts.py are recognisable)."""
    messages = body["messages"]
    if body.get("tools"):
        assert "response_format" not in body
        return "assistant"
    first = messages[0]["content"]
    assert body.get("response_format") == {"type": "json_object"}, body
    if messages[0]["role"] == "system" and first.startswith("You play"):
        return "user"
    for prefix, role in (("You invent", "planner"), ("You are ", "writer"), ("Rewrite a user's message", "refiner"),
                         ("You judge", "judge")):
        if first.startswith(prefix):
            return role
    raise AssertionError(f"unrecognised request: {first[:80]!r}")


def of_role(server: ScriptedLLMServer, role: str) -> list[Record]:
    return [b for b in server.requests if role_of(b) == role]


def words(value: Any) -> int:
    """The scripted server's token count (whitespace words)."""
    return len(str(value).split()) if value is not None else 0


def conversations(requests: list[Record]) -> list[list[Record]]:
    """Assistant requests grouped by rollout: a rollout starts with [system, first user message]."""
    groups: list[list[Record]] = []
    for body in requests:
        if len(body["messages"]) == 2:
            groups.append([])
        groups[-1].append(body)
    return groups


def replayed(rec: Record, messages: list[Record], skip: int = 0) -> Step:
    """The recorded assistant message at this point of the conversation (after `skip` injected ones)."""
    recorded = [m for m in rec["messages"] if m["role"] == "assistant"]
    k = sum(1 for m in messages if m["role"] == "assistant") - skip
    if k >= len(recorded):
        return text("Is there anything else?")
    m = recorded[k]
    if m.get("tool_calls"):
        return tool_calls([(c["function"]["name"], c["function"]["arguments"]) for c in m["tool_calls"]])
    return text(m["content"])


def offered(body: Record) -> list[str]:
    return [t["function"]["name"] for t in body["tools"]]


class Model:
    """A responder: per role either a fixed reply, a callable(body) -> Step | str, or (default) a sensible one.
    Every answer is logged beside its role, so tests can recount tokens."""

    def __init__(self, rec: Record | None = None, **roles: Any):
        self.rec = rec
        self.roles = roles
        self.log: list[tuple[str, Step]] = []

    def __call__(self, body: Record) -> Step:
        role = role_of(body)
        given = self.roles.get(role, getattr(self, role))
        answer = given(body) if callable(given) else given
        step = text(answer) if isinstance(answer, str) else answer
        self.log.append((role, step))
        return step

    def planner(self, body: Record) -> str:
        return json.dumps({"persona": PERSONA, "goal": GOAL})

    def writer(self, body: Record) -> str:
        assert self.rec is not None
        return json.dumps({"message": self.rec["query"]})

    def refiner(self, body: Record) -> str:
        assert self.rec is not None
        return json.dumps({"message": self.rec["query"]})

    def judge(self, body: Record) -> str:
        return json.dumps({"verdict": "pass", "reason": "the notes were handled as asked"})

    def user(self, body: Record) -> str:
        assert self.rec is not None
        said = [m["content"] for m in self.rec["messages"] if m["role"] == "user"]
        asked = sum(1 for m in body["messages"] if m["role"] == "assistant")  # the user's own lines, flipped
        if asked < len(said):
            return json.dumps({"message": said[asked], "stop": False})
        return json.dumps({"message": "Thanks, that's all.", "stop": True})

    def assistant(self, body: Record) -> Step:
        assert self.rec is not None
        messages = body["messages"]
        if messages[1]["content"] != self.rec["query"]:
            return text(REFUSAL)
        assert {p["name"] for p in self.rec["plan"]} <= set(offered(body))
        return replayed(self.rec, messages)


# --- 1. every role played by the model ----------------------------------------------------------------------------

def test_every_role_played_by_the_model(tmp_path: Path, notes_url: str, offline, llm_env) -> None:
    rec = offline(MULTI_TURN_SEED)
    assert rec["mode"] == "multi_turn" and len(rec["intent"]["segments"]) == 2
    model = Model(rec)
    with ScriptedLLMServer(responder=model) as server:
        llm_env(server.base_url)
        summary = run(tmp_path / "r", notes_url, MULTI_TURN_SEED, ["all"])
    records = lines(tmp_path / "r")
    assert summary.count == 1 and [r["index"] for r in records] == [0]
    r = records[0]
    # every role went through the model, in pipeline order, and the simulated user stopped explicitly
    assert [role for role, _ in model.log] == ["planner", "writer", "assistant", "assistant", "user", "assistant",
                                               "assistant", "user", "judge"]
    # planner -> persona and goal; the writer is given the persona; its message opens the conversation
    assert r["persona"] == PERSONA and r["intent"]["goal"] == GOAL
    writer = of_role(server, "writer")[0]["messages"][0]["content"]
    assert writer.startswith("You are Ada Quill, a archivist, tidying up before a trip.")
    assert r["query"] == rec["query"] and r["messages"][1] == {"role": "user", "content": rec["query"]}
    assert r["messages"][0]["role"] == "system"
    # the assistant's calls came from the model (server-made ids) and ran over MCP: real tool results
    calls = [c for m in r["messages"] if m.get("tool_calls") for c in m["tool_calls"]]
    assert [c["function"]["name"] for c in calls] == [p["name"] for p in rec["plan"]]
    assert all(c["id"].startswith("call_") and c["id"].count("_") == 2 for c in calls)
    tools = [m for m in r["messages"] if m["role"] == "tool"]
    assert [t["tool_call_id"] for t in tools] == [c["id"] for c in calls]
    assert rec["plan"][0]["arguments"]["title"] in tools[0]["content"]
    assert not any(t["content"].startswith("Error") for t in tools)
    assert r["final_state_hashes"] == r["expected_state_hashes"] and r["checks"]["verified"]
    assert r["checks"]["state_match"] is True and r["checks"]["finished"] is True
    # the simulated user asked for the second part, then had nothing more to ask
    users = of_role(server, "user")
    assert r["intent"]["segments"] == rec["intent"]["segments"]
    assert "nothing more" not in users[0]["messages"][0]["content"]
    assert "nothing more" in users[1]["messages"][0]["content"]
    assert users[0]["messages"][0]["content"].startswith("You play Ada Quill")
    # the judge saw the transcript; its verdict sits beside the checks
    judge = of_role(server, "judge")[0]["messages"][0]["content"]
    assert f"ASSISTANT CALLS {rec['plan'][0]['name']}(" in judge and "TOOL RESULT:" in judge and GOAL in judge
    assert r["judge"] == {"model": MODEL, "verdict": "pass", "reason": "the notes were handled as asked"}
    assert r["models"] == dict.fromkeys(ROLE_NAMES, MODEL)
    assert r["prompt_hashes"] == {role: prompt_hash(role) for role in ROLE_NAMES}
    assert manifest(tmp_path / "r")["models"] == r["models"]
    # every request of the sample is counted, exactly as the endpoint reported it
    prompt = sum(words(m.get("content")) for b in server.requests for m in b["messages"])
    completion = sum(words(s.content) + sum(words(a if isinstance(a, str) else json.dumps(a)) for _, a in s.tool_calls)
                     for _, s in model.log)
    assert r["tokens"] == {"prompt": prompt, "completion": completion, "total": prompt + completion}
    assert completion > 0 and len(server.requests) == 9


# --- 2. the refiner catches a leaked tool name; the judge's verdict is recorded and can veto -----------------------

def test_refiner_removes_a_leaked_tool_name(tmp_path: Path, notes_url: str, offline, llm_env) -> None:
    rec = offline(CREATE_SEED)
    leaky = "Please run create_note for me. " + rec["query"]
    model = Model(rec, writer=json.dumps({"message": leaky}),
                  judge=json.dumps({"verdict": "pass", "reason": "clear and complete"}))
    with ScriptedLLMServer(responder=model) as server:
        llm_env(server.base_url)
        run(tmp_path / "r", notes_url, CREATE_SEED, ["writer", "refiner", "judge"])
    [r] = lines(tmp_path / "r")
    history = r["refinement"]["history"]
    assert r["refinement"]["rounds"] == 1 and len(history) == 2
    assert history[0] == {"draft": leaky, "problems": ["names the tool 'create_note'"]}
    assert history[1] == {"draft": rec["query"], "problems": []}
    assert r["query"] == rec["query"] and "create_note" not in r["query"]
    assert r["messages"][1]["content"] == rec["query"]
    [refiner] = of_role(server, "refiner")
    prompt = refiner["messages"][0]["content"]
    assert f"Draft: {leaky}\n" in prompt and "Problems: names the tool 'create_note'" in prompt
    assert [role for role, _ in model.log] == ["writer", "refiner", "judge"]
    assert r["checks"]["verified"] and r["judge"] == {"model": MODEL, "verdict": "pass",
                                                      "reason": "clear and complete"}
    assert r["models"]["writer"] == r["models"]["refiner"] == MODEL and r["models"]["planner"] == "offline"
    assert set(r["prompt_hashes"]) == {"writer", "refiner", "judge"}


def test_judge_fail_verdict_drops_the_sample(tmp_path: Path, notes_url: str, offline, llm_env) -> None:
    """The judge can veto: a sample whose checks passed but that the judge fails is not kept (counted as such)."""
    rec = offline(CREATE_SEED)
    model = Model(rec, judge=json.dumps({"verdict": "fail", "reason": "too terse"}))
    with ScriptedLLMServer(responder=model) as server:
        llm_env(server.base_url)
        run(tmp_path / "r", notes_url, CREATE_SEED, ["judge"])
    assert all(r["index"] != 0 for r in lines(tmp_path / "r"))
    rejected = manifest(tmp_path / "r")["stats"]["rejected"]
    assert rejected.get("judge veto: too terse", 0) >= 1, rejected


# --- 3. a tool that does not exist ------------------------------------------------------------------------------
# Only index 0's rollout (known plan) misbehaves; any other sample the run goes on to gets a plain refusal (cheap).

def rollout_of(server: ScriptedLLMServer, rec: Record) -> list[Record]:
    [mine] = [c for c in conversations(server.requests) if c[0]["messages"][1]["content"] == rec["query"]]
    return mine


def not_verified(out: Path) -> dict[str, int]:
    rejected = manifest(out)["stats"]["rejected"]
    assert manifest(out)["finished"] is True
    assert all(r["index"] != 0 for r in lines(out))  # index 0 had a single attempt: it was dropped
    return {k.removeprefix("rollout not verified: "): v for k, v in rejected.items()
            if k.startswith("rollout not verified: ")}


def test_call_to_a_tool_that_does_not_exist(tmp_path: Path, notes_url: str, offline, llm_env) -> None:
    rec = offline(CREATE_SEED)
    ghost = rec["plan"][0]["server"] + "__archive_note"

    def assistant(body: Record) -> Step:
        messages = body["messages"]
        if messages[1]["content"] != rec["query"]:
            return text(REFUSAL)
        if len(messages) == 2:  # first move: a tool nobody offered
            assert ghost not in offered(body)
            return tool_calls([(ghost, {"title": "x"})])
        return replayed(rec, messages, skip=1)  # then the task done right

    with ScriptedLLMServer(responder=Model(rec, assistant=assistant)) as server:
        llm_env(server.base_url)
        summary = run(tmp_path / "r", notes_url, CREATE_SEED, ["assistant"])
    mine = rollout_of(server, rec)
    reply = mine[1]["messages"][-1]
    assert reply == {"role": "tool", "tool_call_id": "call_1_0", "content": f"Error: there is no tool named {ghost!r}."}
    # the model was told, went on and made every gold call: still not verified, the bad call stays unhandled
    made = [c["function"]["name"] for m in mine[-1]["messages"] if m.get("tool_calls") for c in m["tool_calls"]]
    assert made == [ghost] + [p["name"] for p in rec["plan"]]
    assert not_verified(tmp_path / "r").get("unhandled tool error") == 1
    assert 0 in summary.skipped


# --- 4. malformed arguments -------------------------------------------------------------------------------------

def test_malformed_arguments(tmp_path: Path, notes_url: str, offline, llm_env) -> None:
    rec = offline(CREATE_SEED)
    first = rec["plan"][0]["name"]

    def assistant(body: Record) -> Step:
        messages = body["messages"]
        if messages[1]["content"] != rec["query"]:
            return text(REFUSAL)
        if len(messages) == 2:  # first move: the right tool, arguments cut off mid-JSON
            return tool_calls([(first, '{"title": ')])
        return replayed(rec, messages, skip=1)  # then the same tool with good arguments, and the rest

    with ScriptedLLMServer(responder=Model(rec, assistant=assistant)) as server:
        llm_env(server.base_url)
        summary = run(tmp_path / "r", notes_url, CREATE_SEED, ["assistant"])
    mine = rollout_of(server, rec)
    reply = mine[1]["messages"][-1]
    assert reply["role"] == "tool" and reply["content"].startswith("Error: the arguments are not valid JSON (")
    # the malformed call stays in the conversation as the model wrote it
    assert mine[1]["messages"][2]["tool_calls"][0]["function"] == {"name": first, "arguments": '{"title": '}
    # state right, calls matched, the error recovered from: only the malformed call keeps the sample out
    assert not_verified(tmp_path / "r").get("extra or malformed calls") == 1
    assert 0 in summary.skipped


# --- 5. an assistant that never stops calling tools -------------------------------------------------------------

def test_looping_assistant_is_stopped_at_the_step_bound(tmp_path: Path, notes_url: str, offline, llm_env) -> None:
    rec = offline(LIST_SEED)
    assert [p["tool"] for p in rec["plan"]] == ["list_notes"]
    reader = rec["plan"][0]["name"]

    def assistant(body: Record) -> Step:
        if body["messages"][1]["content"] != rec["query"]:
            return text(REFUSAL)
        if sum(1 for m in body["messages"] if m.get("tool_calls")) > 3 * MAX_STEPS:
            return text("Here are your notes.")  # only if the bound is gone: fail fast instead of hanging
        return tool_calls([(reader, {})])  # forever

    model = Model(rec, assistant=assistant)
    started = time.perf_counter()
    with ScriptedLLMServer(responder=model) as server:
        llm_env(server.base_url)
        summary = run(tmp_path / "r", notes_url, LIST_SEED, ["assistant"])
    assert time.perf_counter() - started < 30
    mine = rollout_of(server, rec)
    assert len(mine) == MAX_STEPS  # cut at the bound; the run then went on
    assert sum(1 for _, step in model.log if step.tool_calls) == MAX_STEPS
    last = mine[-1]["messages"]
    assert sum(1 for m in last if m.get("tool_calls")) == MAX_STEPS - 1
    assert all(not m["content"].startswith("Error") for m in last if m["role"] == "tool")
    # a lone list_notes, called right and changing nothing: it fails only for not finishing
    assert not_verified(tmp_path / "r").get("did not finish") == 1
    assert 0 in summary.skipped


# --- 6. a simulated user that never says stop -------------------------------------------------------------------

def test_user_that_never_stops_is_bounded_by_max_turns(tmp_path: Path, notes_url: str, offline, llm_env) -> None:
    rec = offline(MULTI_TURN_SEED)
    def user(body: Record) -> str:
        lines_so_far = sum(1 for m in body["messages"] if m["role"] == "assistant")  # the user's own, flipped
        # never stops (only past 3 x MAX_TURNS, should the bound be gone: fail fast instead of hanging)
        return json.dumps({"message": "And one more thing, please.", "stop": lines_so_far > 3 * MAX_TURNS})

    model = Model(rec, user=user)
    with ScriptedLLMServer(responder=model) as server:
        llm_env(server.base_url)
        summary = run(tmp_path / "r", notes_url, MULTI_TURN_SEED, ["user"])
    # rollouts of samples that consult the user: each one the user opened is cut at MAX_TURNS replies
    groups: list[list[Record]] = []
    for body in server.requests:
        if sum(1 for m in body["messages"] if m["role"] == "assistant") == 1:  # the user's first line, flipped
            groups.append([])
        groups[-1].append(body)
    assert groups and all(len(g) == MAX_TURNS for g in groups)
    last = groups[0][-1]["messages"]
    assert sum(1 for m in last if m["role"] == "assistant") == MAX_TURNS  # first message + MAX_TURNS - 1 replies
    # index 0 (multi-turn) did every call of its plan but never ended: dropped; the run went on
    assert 0 in summary.skipped and all(r["index"] > 0 for r in lines(tmp_path / "r"))
    rejected = manifest(tmp_path / "r")["stats"]["rejected"]
    assert rejected.get("rollout not verified: did not finish", 0) >= 1


# --- 7. unusable replies and an unreachable endpoint ------------------------------------------------------------

def test_prose_from_a_json_role_drops_the_attempt_only(tmp_path: Path, notes_url: str, offline, llm_env) -> None:
    rec = offline(CREATE_SEED)
    prose = "Sure! Ada is an archivist who wants her notes in order."
    seen = {"planner": 0}

    def planner(body: Record) -> str:
        seen["planner"] += 1
        return prose if seen["planner"] <= 2 else json.dumps({"persona": PERSONA, "goal": GOAL})

    model = Model(rec, planner=planner, judge=prose)
    with ScriptedLLMServer(responder=model) as server:
        llm_env(server.base_url)
        summary = run(tmp_path / "r", notes_url, CREATE_SEED, ["planner", "judge"], max_attempts=4)
    planners = of_role(server, "planner")
    assert len(planners) == 3
    # the JSON re-ask was sent once, then the attempt was dropped
    assert [m["role"] for m in planners[1]["messages"]] == ["user", "assistant", "user"]
    assert planners[1]["messages"][1]["content"] == prose and "not valid JSON" in planners[1]["messages"][2]["content"]
    assert summary.rejected.get("model reply unusable") == 1
    assert manifest(tmp_path / "r")["stats"]["rejected"]["model reply unusable"] == 1
    [r] = lines(tmp_path / "r")
    assert r["index"] == 0 and r["persona"] == PERSONA and r["intent"]["goal"] == GOAL
    # a judge that cannot answer leaves no verdict; the verified sample stays
    assert r["checks"]["verified"] and r["judge"]["verdict"] is None
    assert r["judge"]["reason"].startswith("no verdict: ")


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("synthesize")(cli.synthesize)
    a.command("noop")(lambda: None)  # two commands: `synthesize` stays a subcommand
    return a


def synth_error(exc: BaseException) -> SynthError:
    """The SynthError itself, out of the exception groups the MCP client's task groups may wrap it in."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    assert isinstance(exc, SynthError), repr(exc)
    return exc


def test_failing_endpoint_stops_the_run_and_keeps_records(tmp_path: Path, notes_url: str, llm_env) -> None:
    # the endpoint answers the first sample, then fails: the record made before the failure is kept
    answered = {"n": 0}

    def planner(body: Record) -> Step | str:
        answered["n"] += 1
        if answered["n"] > 1:
            return Step(status=503, message="overloaded")
        return json.dumps({"persona": PERSONA, "goal": GOAL})

    out = tmp_path / "r"
    with ScriptedLLMServer(responder=Model(planner=planner)) as server:
        llm_env(server.base_url)
        with pytest.raises(BaseException) as caught:
            run(out, notes_url, CREATE_SEED, ["planner"], n=3, max_attempts=3)
    message = str(synth_error(caught.value))
    assert "\n" not in message and "records so far are kept" in message and "HTTP 503: overloaded" in message
    assert len(server.requests) == 2  # no retry (ENVFACTORY_LLM_MAX_RETRIES=0), no further sample
    assert [r["index"] for r in lines(out)] == [0] and lines(out)[0]["persona"] == PERSONA
    assert manifest(out)["finished"] is False
    kept = (out / TRAJECTORIES).read_bytes()
    # nothing listens on the endpoint at all: the same, naming where it tried; the records untouched
    port = free_port()
    llm_env(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(BaseException) as caught:
        run(out, notes_url, CREATE_SEED, ["planner"], n=3, max_attempts=3)
    message = str(synth_error(caught.value))
    assert "\n" not in message and f"model endpoint http://127.0.0.1:{port}/v1 failed" in message
    assert "connection failed" in message
    assert (out / TRAJECTORIES).read_bytes() == kept


def test_unreachable_endpoint_is_one_clear_line(tmp_path: Path, notes_url: str, llm_env) -> None:
    llm_env(f"http://127.0.0.1:{free_port()}/v1")  # closed: nothing listens there
    with pytest.raises(SynthError):
        run(tmp_path / "r", notes_url, CREATE_SEED, ["planner"], n=1)
    res = CliRunner().invoke(app(), ["synthesize", "--n", "1", "--seed", str(CREATE_SEED), "--out",
                                     str(tmp_path / "cli"), "--url", notes_url, "--model-roles", "planner",
                                     "--concurrency", "1", "--no-progress"])
    assert res.exit_code == 1
    err = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("error: the model endpoint failed"), res.stderr
    assert "Traceback" not in res.output + res.stderr
    # the same wrapping hides a plain configuration error raised inside the connected block
    res = CliRunner().invoke(app(), ["synthesize", "--n", "1", "--out", str(tmp_path / "cli2"), "--url", notes_url,
                                     "--model-roles", "bogus", "--no-progress"])
    assert res.exit_code == 1 and res.stderr.startswith("error: unknown role 'bogus'"), res.stderr
