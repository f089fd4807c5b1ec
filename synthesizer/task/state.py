"""Records of a State as a user knows them: which collection holds a record, how it is named, and how many records
of that collection a description fits. References are resolved here before any request is written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from synthesizer.plan.schema import is_id_like

NAME_KEYS = ("title", "name", "full_name", "display_name", "label", "subject", "summary", "headline")
DATE_KEYS = re.compile(r"(^|_)(date|day|start|starts_at|start_time|departs?|departure|check_in|created_at|placed_at|"
                       r"scheduled_at|due|when|at)$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\d")


@dataclass(frozen=True)
class Located:
    collection: str  # key path of the collection in the State (`orders`, `calendars.cal_0001.events`)
    record: dict[str, Any]
    siblings: list[dict[str, Any]]  # every record of that collection, the record included


def _records(coll: Any) -> list[dict[str, Any]] | None:
    if isinstance(coll, dict) and coll and all(isinstance(v, dict) for v in coll.values()):
        return list(coll.values())
    if isinstance(coll, list) and coll and all(isinstance(v, dict) for v in coll):
        return list(coll)
    return None


def locate(state: Any, record_id: Any, depth: int = 0, path: str = "") -> Located | None:
    """The collection and record whose key or `id` is `record_id`, searched breadth-first from the State's top."""
    if depth > 6 or record_id is None or isinstance(record_id, (dict, list)):
        return None
    if isinstance(state, dict):
        items = _records(state)
        if items is not None and path:
            for key, rec in (state.items() if isinstance(state, dict) else []):
                if key == record_id or rec.get("id") == record_id:
                    return Located(path, rec, items)
        for key, value in state.items():
            if isinstance(value, (dict, list)):
                found = locate(value, record_id, depth + 1, f"{path}.{key}" if path else str(key))
                if found is not None:
                    return found
    elif isinstance(state, list):
        items = _records(state)
        if items is not None:
            for rec in items:
                if rec.get("id") == record_id:
                    return Located(path, rec, items)
        for i, value in enumerate(state):
            if isinstance(value, (dict, list)):
                found = locate(value, record_id, depth + 1, f"{path}[{i}]")
                if found is not None:
                    return found
    return None


def collection(state: Any, path: str) -> list[dict[str, Any]]:
    """The records at a collection path `locate` returned ([] when the path leads nowhere)."""
    cur = state
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            idx = int(part[1:-1])
            cur = cur[idx] if isinstance(cur, list) and idx < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
    return _records(cur) or []


def fits(record: dict[str, Any], match: dict[str, Any]) -> bool:
    """A record fits a description when every described field has that value (dates compared by day)."""
    for key, want in match.items():
        got = record.get(key)
        if isinstance(want, str) and isinstance(got, str) and STAMP.match(want) and len(want) == 10:
            if got[:10] != want:
                return False
        elif got != want:
            return False
    return True


def count_fits(records: list[dict[str, Any]], match: dict[str, Any]) -> int:
    return sum(1 for r in records if fits(r, match))


def name_of(record: dict[str, Any]) -> tuple[str, str] | None:
    """(key, value) of the field a person names the record by, ids cut out (`Order ord_3 for Maya` is no name)."""
    for key in NAME_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip() and not _looks_like_id(value, record):
            return key, value
    for key, value in record.items():
        if key.endswith("_name") and isinstance(value, str) and value.strip() and not _looks_like_id(value, record):
            return key, value
    return None


def _looks_like_id(value: str, record: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and len(v) >= 3 and is_id_like(k) and v in value for k, v in record.items())


def date_of(record: dict[str, Any]) -> tuple[str, str] | None:
    """(key, ISO day) of the record's main date (a start, departure, creation): how people tell records apart."""
    for key, value in record.items():
        if isinstance(value, str) and STAMP.match(value) and DATE_KEYS.search(key.lower()):
            return key, value[:10]
    return None


ROUTE = ("origin", "destination", "city", "location")


def describe_via(record: dict[str, Any], siblings: list[dict[str, Any]], state: Any
                 ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A record told apart by what it links to (`my booking on the flight to LHR on March 4`): (match on the
    link field, how the linked record is named), when exactly one sibling has that link."""
    for key, value in record.items():
        if key == "id" or not key.endswith("_id") or not isinstance(value, str):
            continue
        linked = locate(state, value)
        if linked is None or count_fits(siblings, {key: value}) != 1:
            continue
        rec = linked.record
        via: dict[str, Any] = {"entity": key[:-3].replace("_", " ")}
        named = name_of(rec)
        if named:
            via[named[0]] = named[1]
        day = date_of(rec)
        if day:
            via[day[0]] = day[1]
        via.update({k: rec[k] for k in ROUTE if isinstance(rec.get(k), str)})
        if len(via) > 1:
            return {key: value}, via
    return None


def describe(record: dict[str, Any], siblings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The fewest natural fields (name, then name and date, then date and one more field) that fit this record
    alone among its siblings; None when no such description exists."""
    name = name_of(record)
    day = date_of(record)
    options: list[dict[str, Any]] = []
    if name:
        options.append({name[0]: name[1]})
    if name and day:
        options.append({name[0]: name[1], day[0]: day[1]})
    if day:
        options.append({day[0]: day[1]})
        for key, value in record.items():
            if key != day[0] and isinstance(value, str) and not is_id_like(key) and 2 < len(value) <= 40 \
                    and not STAMP.match(value) and key in ("status", "origin", "destination", "city", "kind", "type"):
                options.append({day[0]: day[1], key: value})
    for match in options:
        if count_fits(siblings, match) == 1:
            return match
    return None
