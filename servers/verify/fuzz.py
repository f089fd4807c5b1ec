"""Arguments that probe a tool's edges: schema violations (must be refused cleanly) and seeded, schema-guided values.

Everything here is a pure function of the schema, the State and a seeded `random.Random`, so the same environment
gets the same cases on every run (determinism replays them and compares).
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from common.jsonschema import resolve

WRONG_VALUES: tuple[Any, ...] = (12345, "not-a-valid-value", True, [], {}, 1.5)
"""Candidates for "a wrong JSON type": the first one a property's schema rejects is used."""

UNICODE_SAMPLES = ("Zoë Łukasz", "東京 ☕", "Ünïcødé 😀", "O'Brien \"quoted\"")


def violating_cases(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """Labelled argument sets that should break the input schema, built around one otherwise valid set."""
    props: dict[str, Any] = schema.get("properties") or {}
    required: list[str] = [r for r in schema.get("required") or [] if r in props]
    base = {name: sample_value(props[name], schema) for name in required}
    cases: list[tuple[str, dict[str, Any] | None]] = []
    for name in required:
        cases.append((f"missing required {name!r}", {k: v for k, v in base.items() if k != name}))
    for name, sub in props.items():
        wrong = next((v for v in WRONG_VALUES if not _accepts(sub, v, schema)), None)
        if wrong is not None:
            cases.append((f"wrong type for {name!r} ({type(wrong).__name__})", {**base, name: wrong}))
        if not _accepts(sub, None, schema):
            cases.append((f"null {name!r}", {**base, name: None}))
    if schema.get("additionalProperties") is False:
        cases.append(("unknown property 'zz_unknown'", {**base, "zz_unknown": "x"}))
    cases.append(("arguments null", None))
    return cases


def _accepts(sub: dict[str, Any], value: Any, root: dict[str, Any]) -> bool:
    wrapper = {**{k: v for k, v in root.items() if k in ("$defs", "definitions")}, **sub}
    try:
        return Draft202012Validator(wrapper).is_valid(value)
    except Exception:  # an unusual schema: treat as accepting, so no false violation is claimed
        return True


def sample_value(sub: dict[str, Any], root: dict[str, Any]) -> Any:
    """A plausible valid value (example, default, enum member or a typed placeholder) used as the base of cases."""
    sub = resolve(sub, root)
    for key in ("examples",):
        if isinstance(sub.get(key), list) and sub[key]:
            return sub[key][0]
    if "default" in sub:
        return sub["default"]
    if "const" in sub:
        return sub["const"]
    if isinstance(sub.get("enum"), list) and sub["enum"]:
        return sub["enum"][0]
    for branch_key in ("anyOf", "oneOf"):
        if isinstance(sub.get(branch_key), list) and sub[branch_key]:
            return sample_value(sub[branch_key][0], root)
    kind = _types(sub)[0] if _types(sub) else "string"
    if kind == "integer":
        return int(sub.get("minimum", 1))
    if kind == "number":
        return float(sub.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        props = sub.get("properties") or {}
        return {k: sample_value(props[k], root) for k in sub.get("required") or [] if k in props}
    if kind == "null":
        return None
    return "x" * max(1, int(sub.get("minLength", 1)))


def _types(sub: dict[str, Any]) -> list[str]:
    t = sub.get("type")
    return [t] if isinstance(t, str) else [x for x in t if isinstance(x, str)] if isinstance(t, list) else []


def _looks_like(fmt: Any, value: str) -> bool:
    """A cheap format test (the runtime's validator does not enforce `format`, so the schema alone says nothing)."""
    if fmt == "date":
        return len(value) == 10 and value[4] == "-" and value[7] == "-"
    if fmt == "date-time":
        return len(value) >= 19 and value[4] == "-" and value[10] == "T"
    if fmt == "email":
        return "@" in value
    return True


def _bound(sub: dict[str, Any], key: str, exclusive: str, fallback: int) -> int | float:
    for k in (key, exclusive):
        v = sub.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return v
    return fallback


def harvest_ids(value: Any, into: list[str], seen: set[str], cap: int = 400) -> None:
    """Collect id-like strings (values of `id`/`*_id` fields, keys of record maps) in a stable order."""
    stack: list[Any] = [value]
    while stack and len(into) < cap:
        node = stack.pop(0)
        if isinstance(node, dict):
            for key, val in node.items():
                if isinstance(val, dict) and "id" in val and isinstance(key, str) and key not in seen:
                    seen.add(key)
                    into.append(key)
                if isinstance(val, str) and (key == "id" or key.endswith("_id")) and val not in seen:
                    seen.add(val)
                    into.append(val)
                if isinstance(val, dict | list):
                    stack.append(val)
        elif isinstance(node, list):
            stack.extend(node)


@dataclass
class Fuzzer:
    """Schema-guided values from a seeded RNG, biased toward known ids, unknown ids and boundaries."""

    rng: random.Random
    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _seen_strings: set[str] = field(default_factory=set)
    _fit_cache: dict[str, tuple[int, list[str]]] = field(default_factory=dict)

    def _fitting(self, sub: dict[str, Any]) -> list[str]:
        """Known strings the subschema accepts, checked incrementally (the pool only grows)."""
        key = json.dumps(sub, sort_keys=True, default=repr)
        checked, fitting = self._fit_cache.get(key, (0, []))
        if checked < len(self.strings):
            try:
                validator = Draft202012Validator({k: v for k, v in sub.items() if k != "$ref"})
                fitting = fitting + [v for v in self.strings[checked:]
                                     if validator.is_valid(v) and _looks_like(sub.get("format"), v)]
            except Exception:  # an unusual schema: fall back to the generic generators
                fitting = []
            self._fit_cache[key] = (len(self.strings), fitting)
        return fitting

    def learn(self, value: Any) -> None:
        """Remember ids and short strings (codes, dates, names) from a State or an output, in a stable order."""
        harvest_ids(value, self.ids, self._seen)
        stack: list[Any] = [value]
        while stack and len(self.strings) < 600:
            node = stack.pop(0)
            if isinstance(node, dict):
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, str) and 0 < len(node) <= 40 and node not in self._seen_strings:
                self._seen_strings.add(node)
                self.strings.append(node)

    def arguments(self, schema: dict[str, Any]) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        args: dict[str, Any] = {}
        for name, sub in props.items():
            if name in required or self.rng.random() < 0.5:
                args[name] = self.value(sub, schema, name)
        return args

    def value(self, sub: Any, root: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        sub = resolve(sub, root)
        rng = self.rng
        pool: list[Any] = []
        if isinstance(sub.get("examples"), list):
            pool += sub["examples"]
        if "default" in sub:
            pool.append(sub["default"])
        if isinstance(sub.get("enum"), list) and sub["enum"]:
            return rng.choice(sub["enum"]) if rng.random() < 0.9 else rng.choice([*sub["enum"], "not_in_enum"])
        if "const" in sub:
            return sub["const"]
        for branch_key in ("anyOf", "oneOf"):
            if isinstance(sub.get(branch_key), list) and sub[branch_key]:
                return self.value(rng.choice(sub[branch_key]), root, name, depth + 1)
        kinds = _types(sub) or ["string"]
        kind = rng.choice(kinds)
        if pool and rng.random() < 0.25:
            return rng.choice(pool)
        if kind == "null":
            return None
        if kind == "boolean":
            return rng.random() < 0.5
        if kind in ("integer", "number"):
            return self._number(sub, kind == "integer")
        if kind == "array":
            if depth > 3 or rng.random() < 0.3:
                return []
            return [self.value(sub.get("items") or {}, root, name, depth + 1) for _ in range(rng.randint(1, 3))]
        if kind == "object":
            if depth > 3:
                return {}
            return self.arguments(sub) if sub.get("properties") else {}
        return self._string(sub, name)

    def _number(self, sub: dict[str, Any], integer: bool) -> int | float:
        rng = self.rng
        lo, hi = _bound(sub, "minimum", "exclusiveMinimum", -5), _bound(sub, "maximum", "exclusiveMaximum", 10**6)
        lo, hi = (lo, hi) if lo <= hi else (hi, lo)
        choices: list[int | float] = [lo, hi, 0, 1, -1]
        if integer:
            choices += [rng.randint(int(lo), int(hi)), int(lo), int(hi), 10**9]
            return int(rng.choice(choices))
        choices += [rng.uniform(lo, hi), 0.5]
        return float(rng.choice(choices))

    def _string(self, sub: dict[str, Any], name: str) -> str:
        rng = self.rng
        fmt = sub.get("format")
        id_like = name == "id" or name.endswith("_id") or name.endswith("_ids") or name == "cursor"
        roll = rng.random()
        if id_like and self.ids and roll < 0.6:
            prefix = name[:-3] if name.endswith("_id") else ""
            matching = [i for i in self.ids if prefix and i.startswith(prefix)] or self.ids
            return rng.choice(matching)
        if (id_like and roll < 0.85) or roll < 0.1:
            base = rng.choice(self.ids) if self.ids else "item_0001"
            head = base.rstrip(string.digits)
            return f"{head}{'9' * max(4, len(base) - len(head))}" if head != base else f"{base}_unknown"
        if ("pattern" in sub or fmt) and roll < 0.6:
            # constrained strings (airport codes, dates): values the State already holds are the likely valid ones
            fitting = self._fitting(sub)
            if fitting:
                return rng.choice(fitting)
        if fmt == "date-time":
            return rng.choice(["2026-01-05T09:00:00Z", "2026-02-29T25:00:00Z", "1999-12-31T23:59:59Z", "yesterday"])
        if fmt == "date":
            return rng.choice(["2026-01-05", "2026-02-30", "1970-01-01", "2026-13-01"])
        if fmt == "email":
            return rng.choice(["ana@example.com", "not-an-email", "zoë@exämple.org"])
        lo = int(sub.get("minLength", 0))
        hi = int(sub.get("maxLength", max(lo, 24)))
        pick = rng.random()
        if pick < 0.15:
            return ""
        if pick < 0.3:
            return rng.choice(UNICODE_SAMPLES)
        if pick < 0.4:
            return "x" * max(lo, min(hi, 500))
        if pick < 0.5:
            return " " * max(1, lo)
        length = rng.randint(max(1, lo), max(1, lo, min(hi, 24)))
        return "".join(rng.choice(string.ascii_letters + string.digits + " -_") for _ in range(length))
