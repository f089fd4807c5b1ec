"""Broken variants of the notes fixture, built at test time: a copy of tests/fixtures/envs/notes with ONE defect.

`make_broken(kind, dest_root)` copies the notes fixture to `dest_root/broken_<kind>`, renames the environment to match
the directory, and applies that kind's defect as a small explicit edit. Each text edit must match exactly once, so a
change to the notes fixture that would silently defuse a defect fails loudly here instead.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

NOTES = Path(__file__).parent / "fixtures" / "envs" / "notes"

NOTES_DOCSTRING = (
    '"""A minimal notes environment: the smallest thing that follows the contract (fixture for runtime tests)."""'
)

GET_NOTE_GUARD = (
    "def get_note(state: State, note_id: str) -> dict:\n"
    "    if note_id not in state.notes:\n"
    '        raise ToolError(f"No note with id {note_id!r}")\n'
)


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace `old` by `new` in the file, asserting `old` occurs exactly once."""
    text = path.read_text(encoding="utf-8")
    count = text.count(old)
    assert count == 1, f"{path.name}: expected exactly one {old!r}, found {count}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _static(env: Path) -> None:
    """env.py imports os, which the static policy forbids."""
    replace_once(env / "env.py", "from pydantic import BaseModel\n", "import os\n\nfrom pydantic import BaseModel\n")
    replace_once(env / "env.py", '    return {"note": _view(note)}\n',
                 '    return {"note": _view(note), "host": os.environ.get("HOSTNAME", "")}\n')


def _contract(env: Path) -> None:
    """create_note names its body parameter `text`, unlike the input schema in env.json."""
    replace_once(env / "env.py", 'def create_note(state: State, title: str, body: str = "") -> dict:',
                 'def create_note(state: State, title: str, text: str = "") -> dict:')
    replace_once(env / "env.py", "body=body, created_at=state.now)", "body=text, created_at=state.now)")


PROTOCOL_SERVER_PY = '''\
"""DEFECT (protocol): serves one tool more than env.json declares (a control-plane `reset`) and a changed description.

Everything else is the standard server: env.py, env.json and checks.json are the notes fixture's.
"""

import sys
from pathlib import Path

import anyio

from registry.spec import ToolSpec
from servers.runtime.mcp_server import build_server, serve_stdio
from servers.runtime.runtime import EnvRuntime

if __name__ == "__main__":
    runtime = EnvRuntime.load(Path(__file__).resolve().parent)
    runtime.spec.tools[1].description = "Read a note."
    runtime.spec.tools.append(ToolSpec(
        name="reset", description="Reset the episode to its scenario.",
        input_schema={"type": "object", "properties": {}}, output_schema={"type": "object"}))
    anyio.run(serve_stdio, build_server(runtime))
    sys.exit(0)
'''


def _protocol(env: Path) -> None:
    """server.py serves a tool list that differs from env.json (env.py is untouched)."""
    (env / "server.py").write_text(PROTOCOL_SERVER_PY, encoding="utf-8")


def _behaviour(env: Path) -> None:
    """create_note upper-cases the title, so a later read shows another title than the one written."""
    replace_once(env / "env.py", "title=title.strip(), body=body", "title=title.strip().upper(), body=body")


def _robustness(env: Path) -> None:
    """get_note raises KeyError (not a ToolError) for unknown ids not shaped like note_NNNN."""
    replace_once(env / "env.py", GET_NOTE_GUARD,
                 GET_NOTE_GUARD.replace("if note_id not in state.notes:",
                                        'if note_id not in state.notes and note_id.startswith("note_"):'))


def _determinism(env: Path) -> None:
    """create_note reports a process-wide call counter (module-level state that survives across episodes)."""
    replace_once(env / "env.py", "def _view(note: Note) -> dict:\n",
                 "_CALLS = [0]  # module-level state: survives across episodes\n\n\ndef _view(note: Note) -> dict:\n")
    replace_once(env / "env.py", '    return {"note": _view(note)}\n',
                 '    _CALLS[0] += 1\n    return {"note": _view(note), "sequence": _CALLS[0]}\n')


def _timeout(env: Path) -> None:
    """get_note loops forever on an unknown id."""
    replace_once(env / "env.py", GET_NOTE_GUARD,
                 "def get_note(state: State, note_id: str) -> dict:\n"
                 "    while note_id not in state.notes:\n"
                 "        pass  # DEFECT: never terminates for an unknown id\n")


DEFECTS: dict[str, Callable[[Path], None]] = {
    "static": _static,
    "contract": _contract,
    "protocol": _protocol,
    "behaviour": _behaviour,
    "robustness": _robustness,
    "determinism": _determinism,
    "timeout": _timeout,
}


def make_broken(kind: str, dest_root: Path) -> Path:
    """Copy the notes fixture to `dest_root/broken_<kind>` with that kind's one defect; returns the new directory."""
    defect = DEFECTS[kind]
    env = dest_root / f"broken_{kind}"
    shutil.copytree(NOTES, env, ignore=shutil.ignore_patterns("__pycache__", "report.json"))
    spec_path = env / "env.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    assert spec["name"] == "notes", spec["name"]
    spec["name"] = env.name
    spec["description"] = f"Broken notes store: {kind} defect (verification test fixture)."
    spec_path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    docstring = f'"""Notes fixture with one deliberate {kind} defect: {defect.__doc__}"""'
    replace_once(env / "env.py", NOTES_DOCSTRING, docstring)
    defect(env)
    return env
