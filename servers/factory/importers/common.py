"""Helpers every importer shares: the failure type, document loading, names, text clean-up, input schemas.

Kept apart from `__init__` so the importer modules can use them without a circular import.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import json
import keyword
import re
from pathlib import Path
from typing import Any

import yaml

from common.errors import EnvfactoryError
from common.naming import IRREGULAR, singular, snake
from registry.spec import ToolAnnotationsSpec

from ..apimodel import Param


class ImportFailure(EnvfactoryError):
    """An API source that cannot be imported. The message is one line, meant for the CLI user."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


# --------------------------------------------------------------------------------------------------- documents

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _jsonable(node: Any) -> Any:
    """YAML gives dates, int keys (`200:`) and sets; the rest of the pipeline wants plain JSON values."""
    if isinstance(node, dict):
        return {str(k): _jsonable(v) for k, v in node.items()}
    if isinstance(node, list | tuple | set):
        return [_jsonable(v) for v in node]
    if isinstance(node, _dt.datetime | _dt.date | _dt.time):
        return node.isoformat()
    if isinstance(node, bytes):
        return node.decode("utf-8", "replace")
    return node


def load_document(path: Path) -> tuple[Any, str]:
    """Parse a JSON or YAML file; return the document and the sha256 of its bytes."""
    if not path.exists():
        raise ImportFailure(f"{path}: no such file")
    if not path.is_file():
        raise ImportFailure(f"{path}: not a file")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailure(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if path.suffix.lower() == ".json":
        try:
            return _jsonable(json.loads(text)), digest
        except json.JSONDecodeError as exc:
            raise ImportFailure(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    try:
        doc = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader (C or pure Python)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ImportFailure(f"{path}: invalid YAML{where}: {problem}") from None
    return _jsonable(doc), digest


# --------------------------------------------------------------------------------------------------- names

def is_plural(word: str) -> bool:
    last = word.rpartition("_")[2]
    return last in IRREGULAR or singular(last) != last


def arg_name(original: str, taken: set[str]) -> str:
    """A snake_case argument name that is also a safe Python parameter (env.py functions take these names)."""
    name = snake(original) or "arg"
    if name[0].isdigit():
        name = "n_" + name
    if len(name) > 63:
        name = name[:63].rstrip("_")
    if keyword.iskeyword(name) or name in ("state", "self"):
        name += "_"
    base, n = name, 2
    while name in taken:
        name, n = f"{base[:60]}_{n}", n + 1
    taken.add(name)
    return name


def unique_tool_name(name: str, taken: set[str], alt: str | None = None) -> str:
    """Cut to 64 characters; on a clash try `<name>_by_<alt>`, then numeric suffixes."""
    name = _cut(snake(name) or "call")
    if name[0].isdigit():
        name = _cut("op_" + name)
    if name in taken and alt:
        candidate = _cut(f"{name}_by_{snake(alt)}")
        if candidate not in taken:
            name = candidate
    base, n = name, 2
    while name in taken:
        name, n = _cut(base, 60) + f"_{n}", n + 1
    taken.add(name)
    return name


def _cut(name: str, limit: int = 64) -> str:
    return name[:limit].rstrip("_")


# --------------------------------------------------------------------------------------------------- text

_TAG = re.compile(r"<[^>]{1,400}>")


def clean_text(text: Any, limit: int = 1000) -> str:
    """Descriptions for a model to read: no HTML tags, short paragraphs, at most `limit` characters."""
    if not isinstance(text, str) or not text.strip():
        return ""
    text = re.sub(r"<\s*(br|/p|/li|/div)\s*/?>", "\n", text, flags=re.I)
    text = html.unescape(_TAG.sub("", text))
    text = re.sub(r"\[([^\]\n]{1,200})\]\((https?://|/|#)[^)\s]*\)", r"\1", text)  # [label](url) -> label
    lines = [" ".join(line.split()) for line in text.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        text = (cut[:space] if space > limit * 0.6 else cut).rstrip(" ,;:") + "…"
    return text


# --------------------------------------------------------------------------------------------------- schemas

def input_schema(params: list[Param]) -> dict[str, Any]:
    """The MCP input schema of an operation: one property per Param, closed to unknown arguments."""
    props: dict[str, Any] = {}
    for p in params:
        prop = dict(p.json_schema)
        if p.description:
            prop["description"] = p.description
        props[p.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": props}
    required = [p.name for p in params if p.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def annotations_from(read_only: bool, destructive: bool, idempotent: bool, title: str | None = None,
                     open_world: bool = False) -> ToolAnnotationsSpec:
    """Every hint stated explicitly, so a reader never has to recall the MCP defaults."""
    return ToolAnnotationsSpec(title=title, read_only_hint=read_only, destructive_hint=destructive,
                               idempotent_hint=idempotent, open_world_hint=open_world)
