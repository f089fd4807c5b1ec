"""common.jsondiff: the one JSON walk, in exact and subset modes, and the orders its callers rely on."""

from __future__ import annotations

from typing import Any

from common.jsondiff import Difference, describe, differences, dotted, first_difference


def kinds(expected: Any, actual: Any, **how: bool) -> list[tuple[str, str]]:
    return [(dotted(d.path), d.kind) for d in differences(expected, actual, **how)]


def test_equal_values_have_no_difference() -> None:
    doc = {"a": [1, {"b": None}], "c": "x"}
    assert first_difference(doc, doc) is None and first_difference(doc, doc, subset=True) is None


def test_exact_mode_reports_missing_added_and_changed_keys() -> None:
    assert kinds({"a": 1, "b": 2}, {"a": 3, "c": 4}) == [("a", "value"), ("b", "missing"), ("c", "added")]
    diff = first_difference({"a": {"b": 1}}, {"a": {"b": 2}})
    assert diff == Difference(("a", "b"), "value", 1, 2)


def test_exact_mode_tells_json_types_apart() -> None:
    assert kinds(1, 1.0) == [("", "value")]
    assert kinds(True, 1) == [("", "value")]
    assert kinds({"a": 1}, [1]) == [("", "not_object")]
    assert kinds("x", {"a": 1}) == [("", "value")]


def test_subset_mode_ignores_extra_keys_but_not_emptiness() -> None:
    assert first_difference({"a": 1}, {"a": 1, "b": 2}, subset=True) is None
    assert kinds({"a": 1, "z": 0}, {"a": 2}, subset=True) == [("a", "value"), ("z", "missing")]
    assert kinds({}, {"b": 2}, subset=True) == [("", "not_empty")]
    assert kinds({"a": {}}, {"a": []}, subset=True) == [("a", "not_object")]


def test_subset_mode_compares_numbers_by_value() -> None:
    assert first_difference({"n": 1}, {"n": 1.0}, subset=True) is None
    assert kinds({"n": True}, {"n": 1}, subset=True) == [("n", "value")]
    assert kinds({"n": 1}, {"n": 2.0}, subset=True) == [("n", "value")]


def test_lists_match_element_by_element_and_must_have_the_same_length() -> None:
    assert kinds([1, 2], [1, 2, 3]) == [("", "length")]
    assert kinds([1, 2], [1, 2, 3], subset=True) == [("", "length")]
    assert kinds({"xs": [1, {"a": 1}]}, {"xs": [2, {"a": 1, "b": 0}]}, subset=True) == [("xs.0", "value")]
    assert kinds({"xs": [1, {"a": 1}]}, {"xs": [2, {"a": 1, "b": 0}]}) == [("xs.0", "value"), ("xs.1.b", "added")]
    assert kinds([1], "1", subset=True) == [("", "not_list")]


def test_orders_sorted_and_presence_first() -> None:
    expected = {"b": {"x": 1}, "a": 1, "d": 0}
    actual = {"c": 2, "b": {"x": 2}, "a": 1}
    assert kinds(expected, actual) == [("b.x", "value"), ("d", "missing"), ("c", "added")]
    assert kinds(expected, actual, sort_keys=True) == [("b.x", "value"), ("c", "added"), ("d", "missing")]
    assert kinds(expected, actual, presence_first=True) == [("d", "missing"), ("c", "added"), ("b.x", "value")]
    assert first_difference(expected, actual, presence_first=True) == Difference(("d",), "missing", 0, None)


def test_the_walk_is_lazy() -> None:
    walk = differences({f"k{i}": i for i in range(1000)}, {})
    assert next(walk).path == ("k0",) and next(walk).path == ("k1",)


def test_dotted_paths() -> None:
    assert dotted(()) == "" and dotted((), prefix="state.x") == "state.x"
    assert dotted(("orders", "o1", "items", 0)) == "orders.o1.items.0"
    assert dotted(("orders", "o1", "items", 0), brackets=True) == "orders.o1.items[0]"
    assert dotted((0, "a"), brackets=True) == "[0].a" and dotted((0, "a")) == "0.a"
    assert dotted(("a",), prefix="state.x") == "state.x.a"


WORDS = {"missing": "{at}: gone", "length": "{at}: {expected_len} -> {actual_len}",
         "value": "{at}: {expected} != {actual}"}


def test_describe_fills_the_template_of_the_kind_or_of_value() -> None:
    assert describe(Difference(("a", 0), "missing", 1), WORDS, prefix="state") == "state.a.0: gone"
    assert describe(Difference((), "length", [1], [1, 2]), WORDS) == "(root): 1 -> 2"
    assert describe(Difference(("k",), "added", None, "x"), WORDS, brackets=True) == "k: None != 'x'"
    assert describe(Difference((0,), "value", {"{a}": 1}, 2), WORDS, str, brackets=True) == "[0]: {'{a}': 1} != 2"


def test_describe_renders_only_the_values_its_template_names() -> None:
    shown: list[Any] = []
    describe(Difference(("a",), "missing", {"big": 1}), WORDS, lambda v: shown.append(v) or "")
    assert shown == []
