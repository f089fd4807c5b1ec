"""Reading a record for the data-quality report (synthesizer/data/quality.py): its texts, calls and argument
leaves, and how a value is said (whole words, numbers as tokens, dates in words)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from common import jsonschema, naming
from synthesizer.data.records import Trajectory, split_qualified

WORD = re.compile(r"[a-z0-9']+")
ISO_DAY = re.compile(r"^(\d{4})-(\d\d)-(\d\d)$")
ISO_STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)", re.IGNORECASE)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")


# ---------------------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ToolDef:
    name: str  # namespaced
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Call:
    name: str  # namespaced
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Found:
    """What a detector found in one record; `units`/`hits` for the value-rated classes."""

    items: list[str]
    units: int = 0
    hits: int = 0


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def name_words(name: str) -> list[str]:
    """`server__getGiftCard` -> get, gift, card; `address_line1` -> address, line1."""
    return [w for w in naming.snake(split_qualified(name)[1]).split("_") if w]


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return content if isinstance(content, str) else ""


def user_texts(t: Trajectory) -> list[str]:
    return [text_of(m) for m in t.messages if m.get("role") == "user"]


def answers(t: Trajectory) -> str:
    """Every text the assistant wrote (its answer to each user turn), one per line."""
    return "\n".join(text_of(m) for m in t.messages if m.get("role") == "assistant" and text_of(m).strip())


def final_answer(t: Trajectory) -> str:
    for m in reversed(t.messages):
        if m.get("role") == "assistant" and text_of(m).strip():
            return text_of(m)
    return ""


def tool_defs(t: Trajectory) -> dict[str, ToolDef]:
    out = {}
    for tool in t.tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            schema = fn.get("parameters")
            out[fn["name"]] = ToolDef(fn["name"], str(fn.get("description") or ""),
                                      schema if isinstance(schema, dict) else {})
    return out


def _parsed(arguments: Any) -> dict[str, Any] | None:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def message_calls(m: dict[str, Any]) -> Iterator[Call]:
    for tc in m.get("tool_calls") or []:
        fn = tc.get("function") if isinstance(tc, dict) else None
        args = _parsed(fn.get("arguments")) if isinstance(fn, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str) and args is not None:
            yield Call(fn["name"], args)


def assistant_calls(t: Trajectory) -> list[Call]:
    return [c for m in t.messages if m.get("role") == "assistant" for c in message_calls(m)]


def all_calls(t: Trajectory) -> list[Call]:
    """The plan's calls and the assistant's."""
    return [Call(c.name, c.arguments) for c in t.plan] + assistant_calls(t)


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    return jsonschema.resolve(schema, root, ref_siblings=True, collapse_unions=True, merge_all_of=True)


def leaves(value: Any, key: str, schema: Any, root: dict[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(key, scalar, its schema) for every scalar under `value`; list items carry their list's key."""
    node = _resolve(schema, root) if isinstance(schema, dict) else {}
    if isinstance(value, dict):
        props = node.get("properties")
        for k, v in value.items():
            yield from leaves(v, str(k), props.get(k, {}) if isinstance(props, dict) else {}, root)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v, key, node.get("items", {}), root)
    else:
        yield key, value, node


def call_leaves(call: Call, defs: dict[str, ToolDef]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    schema = defs[call.name].schema if call.name in defs else {}
    yield from leaves(call.arguments, "", schema, schema)


def dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------------------------------------------------- values


def day_of(value: str) -> date | None:
    m = ISO_DAY.match(value) or ISO_STAMP.match(value)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def human_day(d: date) -> re.Pattern[str]:
    """'March 2', 'Mar 2nd', '2 March', '2nd of March' (lowercase text)."""
    month, short, day = MONTHS[d.month - 1], MONTHS[d.month - 1][:3], d.day
    name = rf"(?:{month}|{short}\.?)"
    ordinal = r"(?:st|nd|rd|th)?"
    return re.compile(rf"\b{name} {day}{ordinal}(?!\d)|(?<!\d){day}{ordinal} (?:of )?{name}\b")


def time_said(hour: int, minute: int, text: str) -> bool:
    if hour == 0 and minute == 0:
        return True
    h12 = hour % 12 or 12
    ampm = "(?:am|pm|a\\.m\\.|p\\.m\\.)"
    forms = [rf"(?<!\d){hour:02d}:{minute:02d}", rf"(?<!\d){hour}:{minute:02d}", rf"(?<!\d){h12}:{minute:02d} ?{ampm}"]
    if minute == 0:
        forms += [rf"(?<!\d){h12} ?{ampm}", rf"(?<!\d){h12} o'clock"]
    if (hour, minute) == (12, 0):
        forms.append(r"\bnoon\b")
    return any(re.search(f, text) for f in forms)


def number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def has_number(value: int | float, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(number_text(value))}(?!\.?\d)", text) is not None


def contains(text: str, needle: str) -> bool:
    """`needle` in `text` as whole words at its edges: 'sea' is not in 'searched', 'cus_1' not in 'cus_10'."""
    start = r"(?<!\w)" if re.match(r"\w", needle) else ""
    end = r"(?!\w)" if re.search(r"\w$", needle) else ""
    return re.search(rf"{start}{re.escape(needle)}{end}", text) is not None


def said_value(value: Any, text: str) -> bool:
    """Does lowercase `text` state the value (a string as written, a number as a token, a date also in words)?"""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return has_number(value, text)
    if not isinstance(value, str) or not value.strip():
        return False
    low = value.strip().lower()
    if contains(text, low):
        return True
    d = day_of(low)
    return d is not None and ISO_DAY.match(low) is not None and human_day(d).search(text) is not None
