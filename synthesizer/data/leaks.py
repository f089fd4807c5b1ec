"""Tool names in user text: the one rule the refiner, the verification and `envfactory stats` all apply."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from synthesizer.data.records import SEP

IDENT_CHAR = r"[A-Za-z0-9_-]"  # characters that continue a tool-name identifier


def is_identifier(name: str) -> bool:
    """Tool names an ordinary sentence would not contain: snake_case, kebab-case or camelCase."""
    return bool(re.search(r"[_-]", name) or re.search(r"[a-z0-9][A-Z]", name))


def tool_name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word regex over all names (longest first); None when there are none."""
    unique = sorted({n for n in names if n}, key=lambda n: (-len(n), n))
    if not unique:
        return None
    body = "|".join(re.escape(n) for n in unique)
    return re.compile(rf"(?<!{IDENT_CHAR})(?:{body})(?!{IDENT_CHAR})", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _matcher(tool_names: tuple[str, ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """Every namespaced name, and each server's own name when it is identifier-like; the first spelling wins."""
    canonical: dict[str, str] = {}
    for name in tool_names:
        canonical.setdefault(name.lower(), name)
        raw = name.split(SEP, 1)[-1]
        if raw != name and is_identifier(raw):
            canonical.setdefault(raw.lower(), raw)
        elif raw == name and not is_identifier(name):
            del canonical[name.lower()]
    return tool_name_pattern(canonical.values()), canonical


def leaked_tools(text: str, tool_names: Iterable[str]) -> list[str]:
    """The tool names (namespaced or the server's own) that `text` states, as they are spelt in `tool_names`."""
    pattern, canonical = _matcher(tuple(tool_names))
    if pattern is None:
        return []
    return sorted({canonical[m.group(0).lower()] for m in pattern.finditer(text)})
