"""Prompts of the model generator (servers/factory/generators/model.py).

Design: two requests per attempt, each a fresh two-message conversation (system + user), so context stays bounded
however many revisions there are.

1. CODE (text mode): the API (title, description, tool specs as JSON) -> env.py as ONE fenced ```python block.
   Code is never asked for inside JSON: models escape code in JSON strings badly, and a fenced block is what they
   write best. On a revision the prompt carries the previous env.py, the previous scenarios/checks and the
   concrete failures of the last attempt (check name, check id, expected vs actual, env.py line of tracebacks).
2. DATA (JSON mode): the API and the env.py just written -> one JSON object
   `{"scenarios": [{"name", "description", "state"}, ...], "checks": [Check, ...]}`. JSON mode lets vLLM and hosted
   APIs constrain the output; a reply that does not parse gets one corrective re-ask in the client. On a revision
   the model may answer `{"keep": true}` to reuse the previous scenarios and checks unchanged (most revisions fix
   code, and re-sending dozens of records costs tokens and invites drift).

The system prompt holds the contract (registry/environment-contract.md, verbatim) and a reference excerpt (parts of
environments/calendar: State, pagination helper, a read, a write, a few checks). Everything here is a pure function
of its inputs plus those files, read as package data when a prompt is built (never at import); a missing one raises
PromptContextError instead of a weaker prompt.
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from common.errors import EnvfactoryError
from servers.factory.apimodel import ApiModel

CONTRACT_DOC = ("registry", "environment-contract.md")
REFERENCE_ENV = ("environments", "calendar")
"""(package, path inside it) of the prompt context: package data, read through importlib.resources."""
REFERENCE_FUNCTIONS = ("_fmt", "_stored", "_now", "_page", "_calendar", "_calendar_view", "list_calendars",
                       "get_calendar")
"""Self-contained: every helper these functions call is included (a write tool is in the contract text)."""
REFERENCE_CHECKS = ("list_calendars_paginates",)
MAX_FAILURE_LINES = 40
MAX_DATA_CHARS = 16_000
KEEP = {"keep": True}

Message = dict[str, str]


class PromptContextError(EnvfactoryError):
    """A file the prompts are built from is not installed with its package; a prompt without it would mislead."""


# --- fixed context ----------------------------------------------------------------------------------------------

def _package_text(package: str, *parts: str) -> str:
    """A text file shipped as package data; a missing one is an installation error, never silently replaced."""
    resource = resources.files(package)
    for part in parts:
        resource = resource / part
    try:
        return resource.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise PromptContextError(f"{package}/{'/'.join(parts)} is missing from the installed {package!r} package "
                                 "(package data not installed?); the model generator's prompts need it") from exc


@lru_cache(maxsize=1)
def contract_text() -> str:
    return _package_text(*CONTRACT_DOC).strip()


@lru_cache(maxsize=1)
def reference_excerpt() -> str:
    """A few real pieces of a verified environment: imports, State models, a pagination helper, tools, checks."""
    source = _package_text(*REFERENCE_ENV, "env.py")
    tree = ast.parse(source)
    code = ""
    for node in tree.body:
        block = isinstance(node, ast.ClassDef) or (isinstance(node, ast.FunctionDef)
                                                   and node.name in REFERENCE_FUNCTIONS)
        if block or isinstance(node, ast.Import | ast.ImportFrom | ast.Assign):
            segment = ast.get_source_segment(source, node) or ""
            code += ("\n\n" + segment + "\n\n") if block else (segment + "\n")
    code = re.sub(r"\n{3,}", "\n\n", code).strip()
    checks = json.loads(_package_text(*REFERENCE_ENV, "checks.json"))["checks"]
    chosen = [c for c in checks if c["id"] in REFERENCE_CHECKS]
    chosen += [c for c in checks if any(call.get("expect", {}).get("is_error") for call in c["calls"])][:1]
    chosen += [c for c in checks if c.get("expect_state")][:1]
    checks_text = ",\n".join(json.dumps(c, ensure_ascii=False) for c in chosen)
    return (f"env.py (excerpt of the verified `calendar` environment):\n```python\n{code.rstrip()}\n```\n\n"
            f"checks.json (three of its checks, one per line):\n```json\n{{\"checks\": [\n{checks_text}\n]}}\n```")


def system_prompt() -> str:
    reference = reference_excerpt()
    return (
        "You implement tool environments for envfactory: deterministic state machines that an AI agent calls as "
        "MCP tools. You write exactly what is asked, in the requested format, following this contract:\n\n"
        f"<contract>\n{contract_text()}\n</contract>\n\n"
        + (f"<reference>\n{reference}\n</reference>\n\n" if reference else "")
        + "Your code is checked by a static policy (imports and builtins), then executed by a verifier that runs "
          "every check, fuzzes every tool with valid and invalid arguments, and replays calls to prove "
          "determinism. Nothing else counts.")


# --- the API as the model sees it -------------------------------------------------------------------------------

def tool_specs_json(api: ApiModel) -> str:
    specs = []
    for op in api.operations:
        spec = op.tool_spec().model_dump(mode="json", by_alias=True, exclude_none=True)
        if op.method and op.path:
            spec["http"] = f"{op.method.upper()} {op.path}"
        specs.append(spec)
    return "[\n" + ",\n".join(json.dumps(s, ensure_ascii=False) for s in specs) + "\n]"  # one tool per line


def api_header(api: ApiModel) -> str:
    lines = [f"Environment name: {api.name}", f"Title: {api.title}"]
    if api.domain:
        lines.append(f"Domain: {api.domain}")
    if api.description:
        lines.append(f"Description: {api.description.strip()}")
    lines.append(f"Imported from: {api.importer} ({api.source})")
    return "\n".join(lines)


def _tools_block(api: ApiModel) -> str:
    names = ", ".join(op.tool for op in api.operations)
    return (f"{api_header(api)}\n\nTools ({len(api.operations)}: {names}), with their exact MCP schemas:\n"
            f"```json\n{tool_specs_json(api)}\n```")


CODE_RULES = (
    "Write env.py for this environment:\n"
    "- `class State(EnvState)` holding every record the tools need (dicts keyed by id), plus pydantic record models.\n"
    "- One function per tool, named exactly as the tool; first parameter `state: State`, then exactly the input "
    "schema's properties (required ones without default, optional ones with a default).\n"
    "- Return a dict that validates against the tool's output_schema (every required field, no extra fields where "
    "additionalProperties is false).\n"
    "- Raise ToolError with an actionable message for unknown ids, invalid values and broken domain rules; never let "
    "KeyError/ValueError/TypeError escape. Read-only tools never modify the State.\n"
    "- Only the allowed imports; no I/O, no clock, no randomness; ids via state.mint_id(prefix), time via state.now.\n"
    "Reply with the complete env.py as ONE fenced ```python block and nothing else.")

DATA_SHAPE = (
    'Reply with ONE JSON object: {"scenarios": [{"name": "small", "description": "...", "state": {...}}, '
    '{"name": "typical", ...}, {"name": "edge", ...}], "checks": [{"id": "...", "description": "...", '
    '"scenario": "small", "calls": [{"tool": "...", "arguments": {...}, "expect": {"output": {...}}}], '
    '"expect_state": {...}}, ...]}\n'
    "- At least three scenarios: small (a handful of records), typical (a realistic working set), edge (empty "
    "collections, unicode names, terminal statuses). Each `state` must validate against State: `now` "
    "(ISO-8601 UTC), `counters` consistent with the ids present (the next minted id never collides), every field of "
    "every record.\n"
    "- Checks: every tool succeeds in at least one check; every tool with required arguments fails with a domain "
    "error (ToolError: expect is_error true and error_contains a word of your message) in another; every write "
    "tool is followed by a read-only tool in the same check. Use `${N.path}` to reuse output values of call N. "
    "Expected outputs are subset matches; only expect what the code really returns for that scenario.\n"
    "- JSON only: no comments, no prose.")


def code_messages(api: ApiModel) -> list[Message]:
    return [{"role": "system", "content": system_prompt()},
            {"role": "user", "content": f"{_tools_block(api)}\n\n{CODE_RULES}"}]


def revise_code_messages(api: ApiModel, attempt: int, code: str | None, data: dict[str, Any] | None,
                         failures: list[str]) -> list[Message]:
    if code:
        previous = f"Your env.py of attempt {attempt}:\n```python\n{code.rstrip()}\n```{named_lines(code, failures)}"
    else:
        previous = f"Attempt {attempt} produced no usable env.py."
    data_part = (f"\n\nThe scenarios and checks it was verified with:\n```json\n{data_json(data)}\n```"
                 if data else "")
    return [{"role": "system", "content": system_prompt()},
            {"role": "user", "content": (
                f"{_tools_block(api)}\n\n{previous}{data_part}\n\n"
                f"Attempt {attempt} FAILED. The problems found:\n{failure_block(failures)}\n\n"
                "Fix every problem. When a check expects something the tool specs contradict, keep the code right "
                "per the specs (the checks are revised in the next step). Keep what already works.\n\n"
                f"{CODE_RULES}")}]


def data_messages(api: ApiModel, code: str) -> list[Message]:
    return [{"role": "system", "content": system_prompt()},
            {"role": "user", "content": (
                f"{_tools_block(api)}\n\nThe env.py implementing it:\n```python\n{code.rstrip()}\n```\n\n"
                f"Now write its scenarios and checks.\n{DATA_SHAPE}")}]


def revise_data_messages(api: ApiModel, attempt: int, code: str, data: dict[str, Any] | None,
                         failures: list[str]) -> list[Message]:
    if data is None:
        return data_messages(api, code)
    return [{"role": "system", "content": system_prompt()},
            {"role": "user", "content": (
                f"{_tools_block(api)}\n\nThe revised env.py:\n```python\n{code.rstrip()}\n```\n\n"
                f"The scenarios and checks of attempt {attempt}:\n```json\n{data_json(data)}\n```\n\n"
                f"Attempt {attempt} failed with:\n{failure_block(failures)}\n\n"
                "If a problem comes from the scenarios or checks (a wrong expectation, a scenario that does not "
                "validate, missing coverage), reply with the complete corrected JSON object. If they are right "
                'and only the code needed fixing, reply exactly {"keep": true}.\n' + DATA_SHAPE)}]


# --- feedback ---------------------------------------------------------------------------------------------------

def failure_block(failures: list[str]) -> str:
    lines = failures[:MAX_FAILURE_LINES]
    more = len(failures) - len(lines)
    text = "\n".join(f"- {line}" for line in lines) or "- (no details recorded)"
    return text + (f"\n- ... and {more} more" if more > 0 else "")


_ENV_LINE = re.compile(r"env\.py:(\d+)")


def named_lines(code: str, failures: list[str], limit: int = 12) -> str:
    """The env.py lines that failures point at ("at env.py:29"), quoted, since the code above has no numbers."""
    lines = code.splitlines()
    numbers = sorted({int(m) for f in failures for m in _ENV_LINE.findall(f)})
    quoted = [f"- env.py:{n}: {lines[n - 1].strip()}" for n in numbers[:limit] if 0 < n <= len(lines)]
    return ("\n\nThe env.py lines named in the failures:\n" + "\n".join(quoted)) if quoted else ""


def data_json(data: dict[str, Any] | None) -> str:
    text = json.dumps(data, indent=1, ensure_ascii=False)
    if len(text) <= MAX_DATA_CHARS:
        return text
    return text[:MAX_DATA_CHARS] + "\n... (truncated)"
