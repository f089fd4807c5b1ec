"""One walk over two JSON values that says where they differ; callers word the differences their own way.

Two modes. Exact: both values must be equal, with the same JSON types (`1` and `1.0` differ), and a key of `actual`
that `expected` lacks is a difference ("added"). Subset: `expected` must be contained in `actual`, as a test's
expectation is: objects need only the expected keys (but `{}` asserts an empty object), lists match element by
element and must have the same length, and numbers compare by value (`1` matches `1.0`; see `same_number`).

The walk is lazy, so asking for the first difference stops there. A difference's path holds object keys as strings
and list indices as ints; `dotted` renders it, and `describe` words a difference with the caller's templates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["missing", "added", "not_empty", "not_object", "not_list", "length", "value"]
"""`missing`: a key of `expected` that `actual` lacks; `added`: the other way round (exact mode); `not_empty`: `{}`
expected, a non-empty object found (subset mode); `not_object`/`not_list`: an object/a list expected, something else
found; `length`: two lists of different lengths; `value`: two other values that differ."""


@dataclass(frozen=True, slots=True)
class Difference:
    path: tuple[str | int, ...]
    kind: Kind
    expected: Any = None  # the expected value there (None for `added`)
    actual: Any = None  # the actual value there (None for `missing`)


@dataclass(frozen=True, slots=True)
class _Walk:
    subset: bool
    sort_keys: bool
    presence_first: bool


def differences(expected: Any, actual: Any, *, subset: bool = False, sort_keys: bool = False,
                presence_first: bool = False) -> Iterator[Difference]:
    """Every difference, depth first, an object's keys in `expected`'s order then `actual`'s extra ones.

    `sort_keys`: an object's keys in sorted order instead (a stable listing of all differences). `presence_first`:
    an object's missing and added keys before any difference inside the keys both have (a structural difference is
    the more useful one to report when only the first is shown).
    """
    return _walk(expected, actual, (), _Walk(subset, sort_keys, presence_first))


def first_difference(expected: Any, actual: Any, *, subset: bool = False, sort_keys: bool = False,
                     presence_first: bool = False) -> Difference | None:
    """The first of `differences` (None when there is none)."""
    return next(differences(expected, actual, subset=subset, sort_keys=sort_keys, presence_first=presence_first),
                None)


def dotted(path: tuple[str | int, ...], *, prefix: str = "", brackets: bool = False) -> str:
    """`orders.ord_1.items.0` (or `orders.ord_1.items[0]` with `brackets`), after `prefix`; "" for the root."""
    out = prefix
    for part in path:
        if brackets and isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def describe(diff: Difference, words: Mapping[str, str], show: Callable[[Any], str] = repr, *, prefix: str = "",
             brackets: bool = False) -> str:
    """`diff` in one line: the template `words[kind]` (else `words["value"]`) filled with `at` (the `dotted` path,
    `(root)` for the root), `expected` and `actual` (as `show` renders them; only those the template names are
    rendered) and `expected_len`, `actual_len` (their sizes)."""
    template = words.get(diff.kind, words["value"])
    return template.format_map(_Fields(diff, show, dotted(diff.path, prefix=prefix, brackets=brackets) or "(root)"))


class _Fields(dict[str, Any]):
    """The fields of a `describe` template, each computed when the template asks for it."""

    def __init__(self, diff: Difference, show: Callable[[Any], str], at: str):
        super().__init__(at=at)
        self._diff, self._show = diff, show

    def __missing__(self, key: str) -> Any:
        side, _, size = key.partition("_")
        value = getattr(self._diff, side) if side in ("expected", "actual") else None
        if size == "len":
            return len(value) if isinstance(value, dict | list | str) else 0
        if not size and side in ("expected", "actual"):
            return self._show(value)
        raise KeyError(key)


def same_number(expected: Any, actual: Any) -> bool:
    """Numbers of equal value (`1` and `1.0`); an expected boolean is not a number (`True` does not match `1`)."""
    return isinstance(expected, int | float) and isinstance(actual, int | float) and not isinstance(expected, bool) \
        and expected == actual


def _walk(expected: Any, actual: Any, path: tuple[str | int, ...], how: _Walk) -> Iterator[Difference]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        if how.subset and not expected and actual:
            yield Difference(path, "not_empty", expected, actual)
        else:
            yield from _object(expected, actual, path, how)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield Difference(path, "length", expected, actual)
        else:
            for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
                yield from _walk(e, a, (*path, i), how)
    elif isinstance(expected, dict | list):
        yield Difference(path, "not_object" if isinstance(expected, dict) else "not_list", expected, actual)
    elif expected != actual or (type(expected) is not type(actual)
                                and not (how.subset and same_number(expected, actual))):
        yield Difference(path, "value", expected, actual)


def _object(expected: dict[Any, Any], actual: dict[Any, Any], path: tuple[str | int, ...],
            how: _Walk) -> Iterator[Difference]:
    keys: list[Any] = list(expected) if how.subset else [*expected, *(k for k in actual if k not in expected)]
    if how.sort_keys:
        keys.sort(key=str)
    shared: list[Any] = []
    for key in keys:
        if key not in actual:
            yield Difference((*path, str(key)), "missing", expected[key], None)
        elif key not in expected:
            yield Difference((*path, str(key)), "added", None, actual[key])
        elif how.presence_first:
            shared.append(key)
        else:
            yield from _walk(expected[key], actual[key], (*path, str(key)), how)
    for key in shared:
        yield from _walk(expected[key], actual[key], (*path, str(key)), how)
