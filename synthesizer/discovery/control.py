"""Tools that control the server rather than its domain: load/save/reset/seed/snapshot/restore its State or a
scenario, debug hooks. A request to "load scenario data into the calendar API" is not something a user asks a
calendar assistant, so such tools are never plan steps or anchors (they stay listed: a model may see them).

Recognised from the tool's own words only, never from a server's identity: the name's verbs and objects first
(`load_scenario`, `reset`, `set_state`, `debug_dump`), then description phrases that talk about the server's State
("Replace the whole in-memory state", "for testing only"). A domain tool that merely shares a word stays a domain
tool: `get_state(entity_id)` reads one device, `reset_password` changes an account, `create_snapshot` of a volume
backs up a disk, `echo` is a normal (if trivial) tool.
"""

from __future__ import annotations

import re
from typing import Any

from common import naming

# verbs that act on the server's own State when their object is the State itself
STATE_VERBS = frozenset(
    "load save reset restore dump set replace overwrite export import clear wipe seed snapshot revert rollback "
    "inject populate reload reinit reinitialize init initialize".split())
READ_VERBS = frozenset({"get", "read", "list", "show", "view", "fetch"})  # control only when the whole State is meant
SCENARIO_OBJECTS = frozenset({"scenario", "fixture_set", "testdata", "test_data", "seed_data", "mock_data",
                              "demo_data"})
WHOLE_OBJECTS = frozenset({"state", "all", "everything", "server", "environment", "env", "sandbox", "world", "db",
                           "database", "store", "datastore", "data", "episode", "simulation"})
ALONE = frozenset({"reset", "seed", "snapshot", "restore", "debug", "shutdown", "healthcheck", "state", "state_hash",
                   "reinit", "reinitialize"})
RESETTING = frozenset({"reset", "wipe", "reinit", "reinitialize", "seed"})  # with any whole-State object
SNAPSHOTS = frozenset({"snapshot", "checkpoint"})
OWN_STATE = re.compile(r"\b(current|its|the|all) (state|data)\b", re.IGNORECASE)
WHOLE_WORDS = re.compile(r"\b(scenarios?|sandbox|simulation|environment|server(?:'s)?|whole|entire|internal|full|"
                         r"in-mem\w*|complete)\b", re.IGNORECASE)
CONTROL_PHRASES = re.compile(
    r"\b(load|save|reset|restore|replace|overwrite|dump|seed|switch|snapshot|wipe)(s|es|ed|ing)?\b"
    r"[^.;]{0,40}?\b(scenarios?|server(?:'s)? state|state of the (server|environment|sandbox|simulation|world|"
    r"app|application|database|mock)|(whole|entire|full|internal|in-mem\w*|current|initial) (state|database|data "
    r"store)|test data|fixture data|mock data|seed data|demo data)\b"
    r"|\bfor (testing|tests|test purposes|debugging) only\b|\b(testing|test|debug)[- ]only\b"
    r"|\binternal (use|tool) only\b|\bnot (meant|intended) (for|to be used by) (end[- ])?users\b",
    re.IGNORECASE)
VERB_FORMS = {"loads": "load", "saves": "save", "resets": "reset", "restores": "restore", "dumps": "dump",
              "sets": "set", "gets": "get", "scenarios": "scenario", "states": "state", "snapshots": "snapshot",
              "checkpoints": "checkpoint", "fixtures": "fixture"}


def words(name: str) -> list[str]:
    """`load_scenario` / `loadScenario` / `load-scenario` -> ["load", "scenario"] (plurals made singular)."""
    return [VERB_FORMS.get(w, w) for w in naming.snake(name).split("_") if w]


def _names_one_thing(schema: dict[str, Any] | None) -> bool:
    """The tool takes an id of something (`entity_id`): it reads or changes one domain record, not the State."""
    props = (schema or {}).get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return False
    for p in props:
        low = naming.snake(str(p))
        if low.endswith(("_id", "_ids")) or low in ("id", "ids", "entity", "device"):
            return True
    return False


def control_reason(name: str, description: str = "", schema: dict[str, Any] | None = None) -> str | None:
    """Why the tool controls the server rather than its domain (None: a domain tool)."""
    w = words(name)
    joined = "_".join(w)
    if not w:
        return None
    if joined in ALONE or joined.replace("_", "") in ALONE:
        return f"{name!r} names a server operation"
    if "debug" in w:
        return f"{name!r} is a debug hook"
    objects = set(w[1:]) | {"_".join(w[i:i + 2]) for i in range(len(w) - 1)}
    verbs = {x for x in w if x in STATE_VERBS}
    if "scenario" in w or objects & SCENARIO_OBJECTS:
        return f"{name!r} acts on the server's scenarios"
    if w[0] in RESETTING and (len(w) == 1 or objects & WHOLE_OBJECTS):
        return f"{name!r} resets or seeds the server's data"
    if "state" in w and not _names_one_thing(schema) and (
            verbs or (set(w) & READ_VERBS and WHOLE_WORDS.search(description or ""))):
        return f"{name!r} reads or replaces the server's whole State"
    if set(w) & SNAPSHOTS and (WHOLE_WORDS.search(description or "") or OWN_STATE.search(description or "")):
        return f"{name!r} snapshots or restores the server's State"
    if CONTROL_PHRASES.search(description or ""):
        return "its description says it controls the server's State or is for testing"
    return None


def is_control_tool(name: str, description: str = "", schema: dict[str, Any] | None = None) -> bool:
    """Whether a tool controls the server (load/save/reset/seed/snapshot/restore State or scenarios, debug hooks)
    rather than its domain; such a tool is never a task. Echo-style test tools are domain tools."""
    return control_reason(name, description, schema) is not None
