"""Naming helpers: snake_case, singular/plural nouns, id prefixes and Python-safe identifiers."""

from __future__ import annotations

import keyword
import re

from common.naming import IRREGULAR as _IRREGULAR
from common.naming import singular
from common.naming import snake as common_snake


def snake(text: str) -> str:
    """`petId` -> `pet_id`, `Bank-Accounts` -> `bank_accounts`, `$.xgafv` -> `xgafv` (never empty)."""
    return common_snake(text) or "x"


def plural(word: str) -> str:
    """A rough English plural of a snake_case noun."""
    head, _, last = word.rpartition("_")
    if last in _IRREGULAR.values() and last not in ("data", "media", "series", "news"):
        last = next(k for k, v in _IRREGULAR.items() if v == last)
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        last = last + ("" if last.endswith("s") and singular(last) != last else "es")
    else:
        last = last + "s"
    return f"{head}_{last}" if head else last


def identifier(name: str, taken: set[str] | None = None) -> str:
    """A valid, non-keyword Python identifier, unique within `taken` (which it updates)."""
    ident = snake(name)
    if ident[0].isdigit():
        ident = "n_" + ident
    if keyword.iskeyword(ident) or ident in ("state", "self"):
        ident += "_"
    if taken is not None:
        base, n = ident, 2
        while ident in taken:
            ident, n = f"{base}_{n}", n + 1
        taken.add(ident)
    return ident


def prefix(noun: str, taken: set[str]) -> str:
    """A short id prefix for a collection (`tasks` -> `task`), unique within `taken`."""
    base = re.sub(r"[^a-z0-9]", "", singular(snake(noun)))[:8] or "rec"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}{n}", n + 1
    taken.add(candidate)
    return candidate


def words(name: str) -> str:
    """`task_list` -> `task list` for messages."""
    return snake(name).replace("_", " ")
