"""Small, tested building blocks for environment code: record models, lookups, filters, paging, ids, an action log.

Generated environments import what they use from here instead of carrying private copies of the same helpers.
Like registry.contract, this module is loaded next to untrusted code (the static policy allows env.py to import
it), so it stays pure: no I/O, no clock, no randomness, and nothing imported beyond pydantic, the standard
library's typing and registry.contract. Every refusal is a `ToolError` whose message tells the agent what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

from registry.contract import EnvState, ToolError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

R = TypeVar("R")


class Record(BaseModel):
    """Base of a record model: fields are declared under Python names, read and written under the API's names.

    A record holds only the fields it was given: one that was never set (or was cleared) is left out when the
    record is dumped, not written as null, so a record looks like the API's own JSON and the State hash does not
    depend on how many optional fields the model declares.
    """

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)
    _api_names: ClassVar[dict[str, str]] = {}
    """Python field name -> the API's name (its alias), computed once per model class: dumps are hot (hashing)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._api_names = {name: field.alias or name for name, field in cls.model_fields.items()}

    @model_serializer(mode="wrap")
    def _set_fields_only(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        data = handler(self)
        given = self.model_fields_set
        if info.by_alias is False:
            return {k: v for k, v in data.items() if k in given}
        keep = {self._api_names[name] for name in given}
        return {k: v for k, v in data.items() if k in keep}


class Action(BaseModel):
    """An entry of the action log: a call the environment validates and records without modelling its effect."""

    id: str = Field(description="Id of the log entry (act_NNNN).")
    tool: str = Field(description="The tool that was called.")
    target: str | None = Field(description="Id of the record it acted on, if any.")
    arguments: dict[str, Any] = Field(description="The arguments it was called with (nulls left out).")
    at: str = Field(description="State time of the call (ISO-8601, UTC).")


class LoggingState(Protocol):
    """What `log_action` needs of a State: its time, its id counters and an `actions` list."""

    now: str
    actions: list[Action]

    def mint_id(self, prefix: str, width: int = 4) -> str: ...


# --- ids and lookups ------------------------------------------------------------------------------------------

def key(value: Any) -> str:
    """The dict key of a record id: records are keyed by the string form of their id; anything else matches none."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value)


def id_list(value: Any) -> list[str]:
    """Record keys from ids given as a list or as one comma-separated string."""
    items = value if isinstance(value, list) else str(value).split(",")
    return [key(v.strip() if isinstance(v, str) else v) for v in items]


def new_id(state: EnvState, counter: str, taken: Container[str], stem: str, width: int = 4) -> str:
    """The next id `stem` + counter value (zero-padded to `width`) not in `taken`; advances the State's counter."""
    number = state.counters.get(counter, 0) + 1
    while stem + str(number).zfill(width) in taken:
        number += 1
    state.counters[counter] = number
    return stem + str(number).zfill(width)


def new_number(state: EnvState, counter: str, taken: Container[str]) -> int:
    """The next integer id whose key is not in `taken`; advances the State's counter."""
    number = state.counters.get(counter, 0) + 1
    while str(number) in taken:
        number += 1
    state.counters[counter] = number
    return number


# --- argument checks ------------------------------------------------------------------------------------------

def require_text(value: Any, what: str) -> None:
    """Refuse a blank string where the API needs a real value (the schema alone lets whitespace through)."""
    if isinstance(value, str) and not value.strip():
        raise ToolError(f"{what} must not be blank; give a non-empty value")


def require_datetime(value: Any, what: str) -> None:
    """Refuse a date-time that does not parse (ISO-8601, e.g. 2026-01-05T09:00:00Z); None passes."""
    if value is None:
        return
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ToolError(f"{what} must be an ISO-8601 date-time such as 2026-01-05T09:00:00Z, got {value!r}") from None


def require_between(value: Any, low: float, high: float, what: str) -> None:
    """Refuse a number outside [low, high] (coordinates, say); None passes."""
    if value is not None and not low <= value <= high:
        raise ToolError(f"{what} must be between {low:g} and {high:g}, got {value!r}")


# --- records --------------------------------------------------------------------------------------------------

def matches(value: Any, wanted: Any) -> bool:
    """Filter match: case-insensitive for strings, any-of for lists on either side."""
    if isinstance(wanted, list):
        return any(matches(value, w) for w in wanted)
    if isinstance(value, list):
        return any(matches(v, wanted) for v in value)
    if isinstance(value, str) and isinstance(wanted, str):
        return value.casefold() == wanted.casefold()
    return value == wanted


def mentions(record: BaseModel, text: str) -> bool:
    """Free-text search: `text` occurs, case-insensitively, in one of the record's string fields."""
    needle = text.casefold()
    return any(isinstance(value, str) and needle in value.casefold() for _, value in record)


def apply(record: BaseModel, /, **changes: Any) -> None:
    """Set the fields that were given, by Python name; None means "leave as is" (optional arguments)."""
    for name, value in changes.items():
        if value is not None:
            setattr(record, name, value)


def clear(record: Record, *keep: str) -> None:
    """Unset every field but `keep` (Python names): a replace starts again from the record's identity."""
    fields = type(record).model_fields
    for name in record.model_fields_set - set(keep):
        setattr(record, name, fields[name].get_default(call_default_factory=True))
    record.model_fields_set.intersection_update(keep)


# --- paging ---------------------------------------------------------------------------------------------------

def page_size(limit: Any) -> int:
    """The page size a `limit` argument asks for: DEFAULT_LIMIT when omitted, at most MAX_LIMIT."""
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ToolError(f"limit must be a whole number of at least 1, got {limit!r}")
    return min(limit, MAX_LIMIT)


def paginate(records: Sequence[R], limit: Any, cursor: Any, id_of: Callable[[R], Any],
             what: str) -> tuple[list[R], str | None]:
    """One page and the next cursor (None on the last page); a cursor is the id of a page's first record."""
    size = page_size(limit)
    start = 0
    if cursor is not None:
        ids = [key(id_of(r)) for r in records]
        if key(cursor) not in ids:
            raise ToolError(f"Unknown cursor {cursor!r} for this {what} listing; pass the next_cursor of the "
                            "previous call with the same filters, or omit it to start from the first page")
        start = ids.index(key(cursor))
    following = records[start + size:start + size + 1]
    return list(records[start:start + size]), (key(id_of(following[0])) if following else None)


def paginate_by_offset(records: Sequence[R], limit: Any, position: Any, pages: bool) -> tuple[list[R], int | None]:
    """One page by offset (or, with `pages`, by 1-based page number); the next cursor is the next position."""
    size = page_size(limit)
    where = 0 if position is None else position
    if isinstance(where, bool) or not isinstance(where, int) or where < 0:
        raise ToolError(f"The page position must be a whole number of at least 0, got {position!r}")
    start = max(where - 1, 0) * size if pages else where
    more = len(records) > start + size
    following = (max(where, 1) + 1 if pages else start + size) if more else None
    return list(records[start:start + size]), following


# --- the action log -------------------------------------------------------------------------------------------

def log_action(state: LoggingState, tool: str, target: Any, arguments: dict[str, Any]) -> Action:
    """Append an entry to the State's action log and return it."""
    entry = Action(id=state.mint_id("act"), tool=tool, target=None if target is None else str(target),
                   arguments={k: v for k, v in arguments.items() if v is not None}, at=state.now)
    state.actions.append(entry)
    return entry
