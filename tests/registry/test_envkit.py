"""registry.envkit, the helpers generated environments import: each refuses what it should, with a message an agent
can act on, and records dump as the API's JSON (only the fields that were set, under the API's names)."""

from __future__ import annotations

import copy
import types
from typing import Any, Literal

import pytest
from pydantic import Field, ValidationError

from registry import envkit
from registry.contract import EnvState, ToolError, state_hash
from registry.envkit import (
    Action,
    Record,
    apply,
    clear,
    id_list,
    key,
    log_action,
    matches,
    mentions,
    new_id,
    new_number,
    page_size,
    paginate,
    paginate_by_offset,
    require_between,
    require_datetime,
    require_text,
)
from servers.runtime.policy import ALLOWED_MODULES, static_problems


class Note(Record):
    id: str
    title: str | None = None
    self_link: str | None = Field(default=None, alias="selfLink")
    status: Literal["open", "done"] | None = None
    tags: list[Any] | None = None


class State(EnvState):
    notes: dict[str, Note] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)


def notes(n: int) -> list[Note]:
    return [Note(id=f"note_{i:04d}", title=f"Note {i}") for i in range(1, n + 1)]


# --- records ----------------------------------------------------------------------------------------------------

def test_record_dumps_only_the_fields_it_was_given_under_the_api_names() -> None:
    note = Note.model_validate({"id": "note_0001", "selfLink": "https://x/1"})
    assert note.self_link == "https://x/1"
    assert note.model_dump() == {"id": "note_0001", "selfLink": "https://x/1"}
    assert note.model_dump(mode="json") == note.model_dump()
    assert note.model_dump(by_alias=False) == {"id": "note_0001", "self_link": "https://x/1"}
    assert Note(id="n", self_link="y").model_dump() == {"id": "n", "selfLink": "y"}  # by Python name too


def test_record_dump_follows_the_declared_field_order() -> None:
    note = Note.model_validate({"tags": ["a"], "status": "open", "id": "n"})
    assert list(note.model_dump()) == ["id", "status", "tags"]


def test_record_refuses_unknown_fields_and_wrong_types() -> None:
    with pytest.raises(ValidationError):
        Note.model_validate({"id": "n", "colour": "red"})
    with pytest.raises(ValidationError):
        Note.model_validate({"id": "n", "status": "archived"})


def test_state_hash_of_records_equals_the_hash_of_the_same_plain_dicts() -> None:
    """What the offline generator relies on: typed records leave the State hash of a scenario unchanged."""
    data = {"now": "2026-01-05T09:00:00Z", "counters": {"note": 1},
            "notes": {"note_0001": {"id": "note_0001", "selfLink": "l", "tags": [{"a": None}]}}, "actions": []}
    assert state_hash(State.model_validate(data)) == state_hash(data)


def test_a_deep_copy_keeps_which_fields_are_set() -> None:
    state = State(notes={"n": Note(id="n")})
    apply(state.notes["n"], title="Kept")
    copied = state.model_copy(deep=True)
    assert copied.notes["n"].model_dump() == {"id": "n", "title": "Kept"}
    assert copied.notes["n"] is not state.notes["n"]


def test_apply_sets_given_fields_and_skips_none() -> None:
    note = Note(id="n", title="Old")
    apply(note, title=None, self_link="l", status="done")
    assert note.model_dump() == {"id": "n", "title": "Old", "selfLink": "l", "status": "done"}


def test_apply_takes_a_field_called_record() -> None:
    class Odd(Record):
        id: str
        record: str | None = None

    odd = Odd(id="o")
    apply(odd, record="r")
    assert odd.record == "r"


def test_clear_unsets_everything_but_the_kept_fields() -> None:
    note = Note.model_validate({"id": "n", "title": "T", "selfLink": "l", "status": "open"})
    clear(note, "id", "status")
    assert note.model_dump() == {"id": "n", "status": "open"}
    assert note.title is None and note.self_link is None
    apply(note, title="New")
    assert note.model_dump() == {"id": "n", "title": "New", "status": "open"}


def test_matches_is_case_insensitive_and_any_of_for_lists() -> None:
    assert matches("Open", "open")
    assert matches(["a", "B"], "b")
    assert matches("b", ["x", "B"])
    assert matches(3, 3) and not matches(3, "3")
    assert not matches("open", "opened")
    assert not matches(None, "open")


def test_mentions_searches_string_fields_only() -> None:
    note = Note.model_validate({"id": "n", "title": "Quarterly Budget", "tags": ["budget"]})
    assert mentions(note, "budget")
    assert mentions(note, "QUARTER")
    assert not mentions(note, "roadmap")


# --- ids --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [("a1", "a1"), (7, "7"), (True, ""), (None, ""), (1.5, ""),
                                                 ({"id": 1}, "")])
def test_key_is_the_string_form_of_str_and_int_ids_only(value: Any, expected: str) -> None:
    assert key(value) == expected


def test_id_list_accepts_lists_and_comma_separated_strings() -> None:
    assert id_list("a, b,c") == ["a", "b", "c"]
    assert id_list(["a", 2, " c "]) == ["a", "2", "c"]
    assert id_list([None]) == [""]


def test_new_id_skips_taken_ids_and_advances_the_counter() -> None:
    state = EnvState(counters={"note": 1})
    taken = {"note_0002": object(), "note_0003": object()}
    assert new_id(state, "note", taken, "note_") == "note_0004"
    assert state.counters["note"] == 4
    assert new_id(state, "note", taken, "note_") == "note_0005"


def test_new_id_matches_mint_id_when_nothing_is_taken() -> None:
    a, b = EnvState(), EnvState()
    assert [new_id(a, "evt", {}, "evt_") for _ in range(3)] == [b.mint_id("evt") for _ in range(3)]
    assert a.counters == b.counters


def test_new_id_shapes() -> None:
    state = EnvState()
    assert new_id(state, "p", {}, "people/", 0) == "people/1"
    assert new_id(state, "u", {}, "00000000-0000-4000-8000-", 12) == "00000000-0000-4000-8000-000000000001"


def test_new_number_skips_taken_keys() -> None:
    state = EnvState(counters={"pet": 2})
    assert new_number(state, "pet", {"3": 1}) == 4
    assert state.counters["pet"] == 4


# --- argument checks --------------------------------------------------------------------------------------------

def test_require_text_refuses_blank_strings_only() -> None:
    require_text("x", "title")
    require_text(None, "title")
    with pytest.raises(ToolError, match="title must not be blank"):
        require_text("   ", "title")


def test_require_datetime() -> None:
    require_datetime("2026-01-05T09:00:00Z", "due")
    require_datetime("2026-01-05T09:00:00+02:00", "due")
    require_datetime(None, "due")
    with pytest.raises(ToolError, match="due must be an ISO-8601 date-time"):
        require_datetime("next tuesday", "due")


def test_require_between_is_inclusive() -> None:
    require_between(-90, -90, 90, "lat")
    require_between(None, -90, 90, "lat")
    with pytest.raises(ToolError, match="lat must be between -90 and 90, got 123.5"):
        require_between(123.5, -90, 90, "lat")


# --- paging -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("limit", "size"), [(None, envkit.DEFAULT_LIMIT), (5, 5), (5.0, 5), (1000, envkit.MAX_LIMIT)])
def test_page_size(limit: Any, size: int) -> None:
    assert page_size(limit) == size


@pytest.mark.parametrize("limit", [0, -1, True, 2.5, "10"])
def test_page_size_refuses_what_is_not_a_whole_number_of_at_least_one(limit: Any) -> None:
    with pytest.raises(ToolError, match="limit must be a whole number of at least 1"):
        page_size(limit)


def test_paginate_walks_every_record_once() -> None:
    records = notes(5)
    seen, cursor = [], None
    for _ in range(5):
        page, cursor = paginate(records, 2, cursor, lambda n: n.id, "note")
        seen += [n.id for n in page]
        if cursor is None:
            break
    assert seen == [n.id for n in records]
    assert paginate(records, 2, None, lambda n: n.id, "note")[1] == "note_0003"  # the next page's first id


def test_paginate_refuses_an_unknown_cursor() -> None:
    with pytest.raises(ToolError, match="Unknown cursor 'zz' for this note listing"):
        paginate(notes(3), 2, "zz", lambda n: n.id, "note")


def test_paginate_by_offset_and_by_page_number() -> None:
    records = notes(5)
    page, following = paginate_by_offset(records, 2, 2, pages=False)
    assert [n.id for n in page] == ["note_0003", "note_0004"] and following == 4
    assert paginate_by_offset(records, 2, 4, pages=False)[1] is None
    page, following = paginate_by_offset(records, 2, 2, pages=True)
    assert [n.id for n in page] == ["note_0003", "note_0004"] and following == 3
    assert paginate_by_offset(records, 2, None, pages=True)[1] == 2
    with pytest.raises(ToolError, match="at least 0"):
        paginate_by_offset(records, 2, -1, pages=False)


# --- the action log ---------------------------------------------------------------------------------------------

def test_log_action_appends_an_entry_without_null_arguments() -> None:
    state = State()
    entry = log_action(state, "archive_note", 7, {"note_id": 7, "reason": None})
    assert state.actions == [entry]
    assert entry.model_dump() == {"id": "act_0001", "tool": "archive_note", "target": "7",
                                  "arguments": {"note_id": 7}, "at": state.now}
    assert log_action(state, "sync", None, {}).target is None
    assert state.counters == {"act": 2}


# --- safe next to untrusted code --------------------------------------------------------------------------------

def test_envkit_hands_out_no_module_beyond_what_env_code_may_import_itself() -> None:
    """env.py may `from registry.envkit import <anything>`: nothing in it may lead to a module the policy refuses."""
    modules = {v.__name__ for v in vars(envkit).values() if isinstance(v, types.ModuleType)}
    assert all(m in ALLOWED_MODULES or m.split(".")[0] in ALLOWED_MODULES for m in modules), modules
    assert static_problems("from registry.envkit import Record, paginate\nfrom registry import envkit\n") == []


def test_records_copy_like_plain_data() -> None:
    note = Note.model_validate({"id": "n", "tags": [{"a": 1}]})
    twin = copy.deepcopy(note)
    twin.tags[0]["a"] = 2  # type: ignore[index]
    assert note.tags == [{"a": 1}]
    dumped = note.model_dump()
    dumped["tags"][0]["a"] = 3
    assert note.tags == [{"a": 1}]  # a dump is a copy: a tool's output cannot alias the State
