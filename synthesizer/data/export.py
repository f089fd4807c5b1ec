"""Exporters of a run's verified trajectories (`trajectories.jsonl`, format `envfactory.trajectories/2`).

- openai: JSONL, one `{"messages", "tools"}` object per trajectory (OpenAI chat fine-tuning format with tools:
  assistant `tool_calls` with JSON-string arguments, `tool` messages answering them by `tool_call_id`).
- sharegpt: JSONL in LLaMA-Factory's sharegpt flavour (`conversations` of human / gpt / function_call / observation,
  `system`, `tools` as a JSON string of the function schemas).
- llamafactory: JSONL in LLaMA-Factory's alpaca flavour (`instruction`, `input`, `output`, `system`, `history`,
  `tools`): responses hold the assistant's text and `<tool_call>` blocks, tool results open the next round's prompt
  as `<tool_response>` blocks, never a training target (see `alpaca_row`).
- verl: parquet for verl RL (`data_source`, `prompt`, `ability`, `reward_model`, `extra_info`); the ground truth is
  `synthesizer.data.ground_truth.GroundTruth` as JSON.

The LLaMA-Factory formats also write (merge into) `dataset_info.json` beside the output. Conventions followed:
hiyouga/LLaMA-Factory data/README.md (sharegpt: "human and observation should appear in odd positions, while gpt
and function should appear in even positions"; dataset_info `file_name` / `formatting` / `columns` / `tags`),
src/llamafactory/data/converter.py (SharegptDatasetConverter: odd/even role check, even message count;
AlpacaDatasetConverter: history pairs and instruction+input as user/assistant messages, all responses learned),
src/llamafactory/data/formatter.py (FunctionFormatter: a function_call value is JSON `{"name", "arguments"}` or, for
parallel calls, a JSON list of them; arguments are objects) and src/llamafactory/api/chat.py (OpenAI tool_calls ->
one function turn with the list; `tools` = JSON list of the `function` objects), src/llamafactory/data/template.py
and tool_utils.py (qwen: `<tool_call>` blocks for calls, `<tool_response>` in a user turn for results).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from common.errors import EnvfactoryError
from common.files import atomic_path
from synthesizer.data.ground_truth import GroundTruth
from synthesizer.data.records import FORMAT, Trajectory, read_json_object
from synthesizer.errors import SynthError

FORMATS = ("openai", "sharegpt", "llamafactory", "verl")
TRAJECTORIES = "trajectories.jsonl"
DATASET_INFO = "dataset_info.json"
ABILITY = "tool_use"


class ExportResult(BaseModel):
    format: str
    path: Path
    rows: int  # rows written
    read: int  # trajectories in the run
    unverified: int  # skipped: checks.verified is false
    problems: list[str] = Field(default_factory=list)  # verified trajectories the format cannot carry (skipped)
    dataset_info: Path | None = None  # the LLaMA-Factory dataset_info.json written beside the output


class Unrepresentable(EnvfactoryError):
    """This trajectory cannot be written in the format (the row is skipped and named in ExportResult.problems)."""


# --- reading ---------------------------------------------------------------------------------------------------------


def trajectories_path(run_dir: Path) -> Path:
    return run_dir / TRAJECTORIES if run_dir.is_dir() else run_dir


def read_trajectories(run_dir: Path) -> list[Trajectory]:
    """Every record of the run; a line that is not JSON or not format 2 is an error naming file and line."""
    path = trajectories_path(run_dir)
    if not path.is_file():
        raise SynthError(f"{path}: no trajectories file (run `envfactory synthesize --out {run_dir}` first)")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [_parse_line(path, n, line, n == len(lines)) for n, line in enumerate(lines, start=1) if line.strip()]


def _parse_line(path: Path, n: int, line: str, last: bool) -> Trajectory:
    try:
        obj = json.loads(line)
    except ValueError:
        hint = " (truncated by an interrupted run? re-run `envfactory synthesize` to repair it)" if last else ""
        raise SynthError(f"{path}: line {n} is not valid JSON{hint}") from None
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if fmt != FORMAT:
        raise SynthError(f"{path}: line {n} has format {fmt!r}, expected {FORMAT!r} (synthesize it again)")
    try:
        return Trajectory.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise SynthError(f"{path}: line {n} is not a valid trajectory: {where}: {first.get('msg')}") from None


# --- shared helpers --------------------------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _parsed(text: str) -> Any:
    """The JSON value `text` holds, or `text` itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they parse (they are a JSON string in OpenAI messages)."""
    if isinstance(raw, str):
        return _parsed(raw)
    return raw if raw is not None else {}


def _content(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return _dumps(value)


def _function_schemas(t: Trajectory) -> list[dict[str, Any]]:
    """The `function` objects of the OpenAI tools ({name, description, parameters})."""
    return [tool.get("function", tool) for tool in t.tools]


def _calls_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]


# --- openai ----------------------------------------------------------------------------------------------------------


def openai_messages(t: Trajectory) -> list[dict[str, Any]]:
    """The record's messages with tool-call arguments as JSON strings, as the OpenAI format requires."""
    out: list[dict[str, Any]] = []
    for m in t.messages:
        m = dict(m)
        if _calls_of(m):
            m["tool_calls"] = [{**c, "function": {**c.get("function", {}), "arguments": _arguments_text(c)}}
                               for c in _calls_of(m)]
        elif m.get("role") == "tool":
            m["content"] = _content(m.get("content"))
        out.append(m)
    return out


def _arguments_text(call: dict[str, Any]) -> str:
    raw = call.get("function", {}).get("arguments")
    return raw if isinstance(raw, str) else _dumps(raw if raw is not None else {})


def openai_row(t: Trajectory) -> dict[str, Any]:
    if not t.messages or t.messages[-1].get("role") != "assistant":
        raise Unrepresentable("the conversation does not end with an assistant message")
    return {"messages": openai_messages(t), "tools": t.tools}


# --- sharegpt (LLaMA-Factory) ----------------------------------------------------------------------------------------

ODD = ("human", "observation")  # LLaMA-Factory: positions 1, 3, 5, ... (prompts)
EVEN = ("gpt", "function_call")  # positions 2, 4, 6, ... (what the model learns)


def _function_call_value(calls: list[dict[str, Any]]) -> str:
    """One call: `{"name", "arguments"}`; parallel calls: a JSON list of them (LLaMA-Factory's FunctionFormatter)."""
    items = [{"name": c.get("function", {}).get("name", ""), "arguments": _arguments(c.get("function", {})
                                                                                       .get("arguments"))}
             for c in calls]
    return _dumps(items[0] if len(items) == 1 else items)


def _observation_value(results: list[dict[str, Any]], order: list[str]) -> str:
    """One result: its text verbatim; parallel results: a JSON list in call order (each parsed when it is JSON)."""
    rank = {cid: i for i, cid in enumerate(order)}
    results = sorted(results, key=lambda m: rank.get(str(m.get("tool_call_id")), len(rank)))
    texts = [_content(m.get("content")) for m in results]
    if len(texts) == 1:
        return texts[0]
    return _dumps([_parsed(x) for x in texts])


def sharegpt_turns(t: Trajectory) -> tuple[str, list[dict[str, str]]]:
    """(system, conversations). Text an assistant wrote beside its tool calls has no slot in this format: it is
    dropped (a function_call value must be pure JSON); consecutive same-side text turns are joined."""
    system: list[str] = []
    turns: list[dict[str, str]] = []
    pending: list[dict[str, Any]] = []  # tool results waiting to become one observation
    order: list[str] = []
    for m in t.messages:
        role = m.get("role")
        if role == "tool":
            pending.append(m)
            continue
        if pending:
            turns.append({"from": "observation", "value": _observation_value(pending, order)})
            pending = []
        if role == "system":
            system.append(_content(m.get("content")))
        elif role == "user":
            _add(turns, "human", _content(m.get("content")))
        elif role == "assistant" and _calls_of(m):
            order = [str(c.get("id")) for c in _calls_of(m)]
            turns.append({"from": "function_call", "value": _function_call_value(_calls_of(m))})
        elif role == "assistant":
            _add(turns, "gpt", _content(m.get("content")))
        else:
            raise Unrepresentable(f"message role {role!r}")
    if pending:
        turns.append({"from": "observation", "value": _observation_value(pending, order)})
    _check_alternation(turns)
    return "\n\n".join(s for s in system if s), turns


def _add(turns: list[dict[str, str]], side: str, text: str) -> None:
    if turns and turns[-1]["from"] == side:
        turns[-1]["value"] += "\n\n" + text
    else:
        turns.append({"from": side, "value": text})


def _check_alternation(turns: list[dict[str, str]]) -> None:
    for i, turn in enumerate(turns):
        if turn["from"] not in (ODD if i % 2 == 0 else EVEN):
            raise Unrepresentable(f"turn {i + 1} is {turn['from']!r} where LLaMA-Factory expects "
                                  f"{' or '.join(ODD if i % 2 == 0 else EVEN)}")
    if not turns or turns[-1]["from"] != "gpt":
        raise Unrepresentable("the conversation does not end with an assistant answer")


def sharegpt_row(t: Trajectory) -> dict[str, Any]:
    system, turns = sharegpt_turns(t)
    return {"conversations": turns, "system": system, "tools": _dumps(_function_schemas(t))}


SHAREGPT_INFO: dict[str, Any] = {
    "formatting": "sharegpt",
    "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
    "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
             "observation_tag": "observation", "function_tag": "function_call"},
}


# --- alpaca with history (LLaMA-Factory) -----------------------------------------------------------------------------

PROMPT, RESPONSE = "prompt", "response"


def render_calls(message: dict[str, Any]) -> str:
    """An assistant message as the text the model learns: its own text, then one block per call

        <tool_call>
        {"name": "<server>__<tool>", "arguments": {...}}
        </tool_call>
    """
    parts = [_content(message.get("content"))] if _content(message.get("content")) else []
    for c in _calls_of(message):
        call = {"name": c.get("function", {}).get("name", ""),
                "arguments": _arguments(c.get("function", {}).get("arguments"))}
        parts.append(f"<tool_call>\n{json.dumps(call, ensure_ascii=False)}\n</tool_call>")
    return "\n".join(parts)


def render_results(results: list[dict[str, Any]], order: list[str]) -> str:
    """Tool results as a prompt: one `<tool_response>` block per result, in the order of the calls."""
    rank = {cid: i for i, cid in enumerate(order)}
    results = sorted(results, key=lambda m: rank.get(str(m.get("tool_call_id")), len(rank)))
    return "\n".join(f"<tool_response>\n{_content(m.get('content'))}\n</tool_response>" for m in results)


def alpaca_rounds(t: Trajectory) -> tuple[str, list[tuple[str, str]]]:
    """(system, [(prompt, response), ...]): prompts are user messages and tool results, responses what the
    assistant wrote between them (consecutive messages of one side are joined)."""
    system = "\n\n".join(_content(m.get("content")) for m in t.messages if m.get("role") == "system")
    sides: list[tuple[str, str]] = []
    pending: list[dict[str, Any]] = []
    order: list[str] = []

    def add(side: str, text: str) -> None:
        if sides and sides[-1][0] == side:
            sides[-1] = (side, sides[-1][1] + ("\n\n" if side == PROMPT else "\n") + text)
        else:
            sides.append((side, text))

    for m in t.messages:
        role = m.get("role")
        if role == "tool":
            pending.append(m)
            continue
        if pending:
            add(PROMPT, render_results(pending, order))
            pending = []
        if role == "system":
            continue
        if role == "user":
            add(PROMPT, _content(m.get("content")))
        elif role == "assistant":
            if not sides:
                raise Unrepresentable("an assistant message comes before the first user message")
            if _calls_of(m):
                order = [str(c.get("id")) for c in _calls_of(m)]
            add(RESPONSE, render_calls(m))
        else:
            raise Unrepresentable(f"message role {role!r}")
    if pending:
        add(PROMPT, render_results(pending, order))
    if not sides or sides[-1][0] != RESPONSE or not sides[-1][1]:
        raise Unrepresentable("the conversation does not end with an assistant answer")
    return system, [(sides[i][1], sides[i + 1][1]) for i in range(0, len(sides), 2)]


def alpaca_row(t: Trajectory) -> dict[str, Any]:
    """One row per conversation; tool results are never in a response.

    Why this shape: LLaMA-Factory's alpaca format has two roles only. Each `history` pair and `instruction` +
    `input` become a user and an assistant message (AlpacaDatasetConverter), and every assistant message is learned,
    history responses included (data/README.md: "the responses in the history will also be learned by the model").
    Tool results are not the model's to learn: LLaMA-Factory's own tool-use format (sharegpt) puts them, as
    `observation`, at the odd (prompt) positions beside the user, and the calls, as `function_call`, at the even
    (learned) positions beside the assistant. This export keeps that alternation: a round that contains tool calls is
    split at each tool result, so a response holds only what the assistant wrote (its text and `<tool_call>` blocks)
    and the results open the next round's prompt as `<tool_response>` blocks. Those are the strings LLaMA-Factory's
    qwen template produces for a function message (QwenToolUtils.function_formatter) and an observation
    (format_observation: a user turn `<tool_response>\n...\n</tool_response>`; several results are separate blocks,
    as OpenAIDatasetConverter joins them): with that template a results prompt renders as the very text of an
    observation turn, and a response of calls as that of a function turn."""
    system, rounds = alpaca_rounds(t)
    history = [[prompt, response] for prompt, response in rounds[:-1]]
    return {"instruction": rounds[-1][0], "input": "", "output": rounds[-1][1], "system": system,
            "history": history, "tools": _dumps(_function_schemas(t))}


ALPACA_INFO: dict[str, Any] = {
    "formatting": "alpaca",
    "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                "history": "history", "tools": "tools"},
}


# --- verl ------------------------------------------------------------------------------------------------------------


def verl_prompt(t: Trajectory) -> list[dict[str, str]]:
    """The system message and the first user message: the rollout starts from here."""
    prompt: list[dict[str, str]] = []
    for m in t.messages:
        if m.get("role") == "system" and not prompt:
            prompt.append({"role": "system", "content": _content(m.get("content"))})
        elif m.get("role") == "user":
            prompt.append({"role": "user", "content": _content(m.get("content"))})
            return prompt
    raise Unrepresentable("no user message")


def verl_row(t: Trajectory) -> dict[str, Any]:
    envs = [e.name for e in t.envs]
    truth = GroundTruth.from_trajectory(t)
    return {
        "data_source": "+".join(envs) or "none",
        "prompt": verl_prompt(t),
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": truth.model_dump_json()},
        "extra_info": {
            "split": "train",
            "id": t.id,
            "index": t.index,
            "envs": envs,
            "scenarios": _dumps(t.scenarios),
            "initial_states": _dumps(t.initial_states),
            "expected_state_hashes": _dumps(t.expected_state_hashes),
            "tools": _dumps(t.tools),
            "mode": t.mode,
            "kind": t.kind,
            "turns": t.turns,
            "intent": _dumps(t.intent.model_dump(mode="json")),  # for a simulated user in multi-turn rollouts
            "pass_rate": t.pass_at_k.rate,
        },
    }


def verl_schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([
        ("data_source", text),
        ("prompt", pa.list_(pa.struct([("role", text), ("content", text)]))),
        ("ability", text),
        ("reward_model", pa.struct([("style", text), ("ground_truth", text)])),
        ("extra_info", pa.struct([("split", text), ("id", text), ("index", pa.int64()), ("envs", pa.list_(text)),
                                  ("scenarios", text), ("initial_states", text), ("expected_state_hashes", text),
                                  ("tools", text), ("mode", text), ("kind", text), ("turns", pa.int64()),
                                  ("intent", text), ("pass_rate", pa.float64())])),
    ])


# --- writing ---------------------------------------------------------------------------------------------------------


def _write_jsonl(rows: list[dict[str, Any]], out: Path) -> None:
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(_dumps(row) + "\n")


def _write_parquet(rows: list[dict[str, Any]], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=verl_schema())
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)


def merge_dataset_info(out: Path, entry: dict[str, Any]) -> Path:
    """Add (or replace) the entry named after the output file in `dataset_info.json` beside it."""
    info_path = out.parent / DATASET_INFO
    info = read_json_object(info_path, "not a JSON object of dataset descriptions",
                            "not valid JSON; fix or remove it") or {}
    info[out.stem] = {"file_name": out.name, **entry}
    with atomic_path(info_path) as tmp:
        tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return info_path


ROWS: dict[str, Callable[[Trajectory], dict[str, Any]]] = {
    "openai": openai_row, "sharegpt": sharegpt_row, "llamafactory": alpaca_row, "verl": verl_row,
}
DATASET_INFO_ENTRIES: dict[str, dict[str, Any]] = {"sharegpt": SHAREGPT_INFO, "llamafactory": ALPACA_INFO}


def default_out(run_dir: Path, fmt: str) -> Path:
    base = run_dir if run_dir.is_dir() or not run_dir.suffix else run_dir.parent
    return base / f"{fmt}.{'parquet' if fmt == 'verl' else 'jsonl'}"


def export(run_dir: Path, fmt: str, out: Path | None = None) -> ExportResult:
    """Write the run's verified trajectories in `fmt` to `out` (default `<run_dir>/<fmt>.jsonl|.parquet`)."""
    if fmt not in FORMATS:
        raise SynthError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    out = out or default_out(run_dir, fmt)
    records = read_trajectories(run_dir)
    verified = [t for t in records if t.checks.verified]
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for t in verified:
        try:
            rows.append(ROWS[fmt](t))
        except Unrepresentable as exc:
            problems.append(f"{t.id}: {exc}")
    if fmt == "verl":
        _write_parquet(rows, out)
    else:
        _write_jsonl(rows, out)
    info = merge_dataset_info(out, DATASET_INFO_ENTRIES[fmt]) if fmt in DATASET_INFO_ENTRIES else None
    return ExportResult(format=fmt, path=out, rows=len(rows), read=len(records),
                        unverified=len(records) - len(verified), problems=problems, dataset_info=info)
