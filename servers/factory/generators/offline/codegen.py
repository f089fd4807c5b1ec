"""Write env.py: a State with one dict of records per collection, lookup helpers, and one function per tool."""

from __future__ import annotations

import builtins
import json
import pprint
from typing import Any

from servers.factory.apimodel import ApiModel
from servers.factory.generators.offline import names, schemas
from servers.factory.generators.offline.records import initial_status, is_terminal
from servers.factory.generators.offline.resources import Collection
from servers.factory.generators.offline.tools import Tool

BUILTIN_NAMES = frozenset(dir(builtins)) | {"record", "records", "page", "entry", "current", "kept", "wanted"}
PY_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "array": "list",
            "object": "dict"}

HELPERS = '''

def _key(value: Any) -> str:
    """Records are keyed by the string form of their id; anything else matches nothing."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value)


def _text(value: Any, what: str) -> None:
    """Refuse a blank string where the API needs a real value."""
    if isinstance(value, str) and not value.strip():
        raise ToolError(f"{what} must not be blank; give a non-empty value")


def _same(value: Any, wanted: Any) -> bool:
    """Filter match: case-insensitive for strings, any-of for lists on either side."""
    if isinstance(wanted, list):
        return any(_same(value, w) for w in wanted)
    if isinstance(value, list):
        return any(_same(v, wanted) for v in value)
    if isinstance(value, str) and isinstance(wanted, str):
        return value.casefold() == wanted.casefold()
    return value == wanted


def _search(record: dict[str, Any], text: str) -> bool:
    needle = text.casefold()
    return any(isinstance(v, str) and needle in v.casefold() for v in record.values())


def _apply(record: dict[str, Any], changes: dict[str, Any]) -> None:
    """Set the fields that were given (None means "leave as is")."""
    for field, value in changes.items():
        if value is not None:
            record[field] = value


def _when(value: Any, what: str) -> None:
    """Refuse a date-time that does not parse (ISO-8601, e.g. 2026-01-05T09:00:00Z)."""
    if value is None:
        return
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ToolError(f"{what} must be an ISO-8601 date-time such as 2026-01-05T09:00:00Z, got {value!r}") from None


def _between(value: Any, low: float, high: float, what: str) -> None:
    if value is not None and not low <= value <= high:
        raise ToolError(f"{what} must be between {low:g} and {high:g}, got {value!r}")


def _id_list(value: Any) -> list[str]:
    """Ids given as a list or as one comma-separated string."""
    items = value if isinstance(value, list) else str(value).split(",")
    return [_key(v.strip() if isinstance(v, str) else v) for v in items]


def _size(limit: Any) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ToolError(f"limit must be a whole number of at least 1, got {limit!r}")
    return min(limit, MAX_LIMIT)


def _page(records: list[dict[str, Any]], limit: Any, cursor: Any, id_field: str,
          what: str) -> tuple[list[dict[str, Any]], str | None]:
    """One page; the cursor is the id of the first record of the page (opaque to callers)."""
    size = _size(limit)
    start = 0
    if cursor is not None:
        ids = [_key(r.get(id_field)) for r in records]
        if _key(cursor) not in ids:
            raise ToolError(f"Unknown cursor {cursor!r} for this {what} listing; pass the next_cursor of the "
                            "previous call with the same filters, or omit it to start from the first page")
        start = ids.index(_key(cursor))
    following = records[start + size:start + size + 1]
    return records[start:start + size], (_key(following[0].get(id_field)) if following else None)


def _page_at(records: list[dict[str, Any]], limit: Any, position: Any, pages: bool) -> tuple[list[dict[str, Any]],
                                                                                           int | None]:
    """One page by offset (or 1-based page number); next_cursor is the next offset or page number."""
    size = _size(limit)
    where = 0 if position is None else position
    if isinstance(where, bool) or not isinstance(where, int) or where < 0:
        raise ToolError(f"The page position must be a whole number of at least 0, got {position!r}")
    start = max(where - 1, 0) * size if pages else where
    more = len(records) > start + size
    following = (max(where, 1) + 1 if pages else start + size) if more else None
    return records[start:start + size], following
'''

LOG_HELPER = '''

def _log(state: State, tool: str, target: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """Append an entry to the action log and return it."""
    entry = {
        "id": state.mint_id("act"),
        "tool": tool,
        "target": None if target is None else str(target),
        "arguments": {k: v for k, v in arguments.items() if v is not None},
        "at": state.now,
    }
    state.actions.append(entry)
    return entry
'''


def _lit(value: Any) -> str:
    return pprint.pformat(value, width=110, sort_dicts=False)


def _ann(schema: dict[str, Any], required: bool) -> str:
    kind = schemas.main_type(schemas.resolve(schema))
    py = PY_TYPES.get(kind or "", "Any")
    if py in ("list", "dict"):
        py = f"{py}[Any]" if py == "list" else "dict[str, Any]"
    return py if required else f"{py} | None"


def _finder(col: Collection) -> str:
    return f"_find_{col.singular}"


class Writer:
    def __init__(self, api: ApiModel, collections: list[Collection], tools: list[Tool]):
        self.api = api
        self.cols = collections
        self.tools = tools
        self.lines: list[str] = []
        self.uses_log = any(t.plan.kind in ("action", "write") for t in tools)

    def emit(self, text: str = "") -> None:
        self.lines.append(text)

    # -- module parts ------------------------------------------------------------------------------------------
    def header(self) -> None:
        api = self.api
        title = " ".join(api.title.split()) or api.name
        self.emit('"""' + f"{title}: a stateful simulation generated offline from {api.importer} "
                  f"({api.source.rsplit('/', 1)[-1]}).")
        self.emit()
        self.emit("Records live in the State, one dict per collection keyed by id:")
        for col in self.cols:
            owner = f", each inside a {col.parent.words}" if col.parent else ""
            self.emit(f"- {col.key}: {col.words} records ({self._id_example(col)}){owner}.")
        self.emit()
        self.emit("Rules: ids are minted from State counters and time is `state.now`; parents must exist; required")
        self.emit("text must not be blank; deleting a record deletes what it owns; status actions refuse records that")
        self.emit("are already in the target status or in a terminal one. Operations the simulation does not model")
        self.emit("return a fixed sample (reads) or are recorded in `actions` (writes).")
        self.emit('"""')
        self.emit()
        self.emit("from datetime import datetime")
        self.emit("from typing import Any")
        self.emit()
        self.emit("from pydantic import Field")
        self.emit()
        self.emit("from registry.contract import EnvState, ToolError")
        self.emit()
        self.emit("DEFAULT_LIMIT = 20")
        self.emit("MAX_LIMIT = 100")
        for col in self.cols:
            if col.status_field:
                terminal = [s for s in col.statuses if is_terminal(s)]
                self.emit(f"{col.singular.upper()}_TERMINAL = {_lit(tuple(terminal))}")
        for tool in self.tools:
            if tool.plan.kind == "read":
                self.emit()
                self.emit(f"SAMPLE_{tool.spec.name.upper()} = {_lit(tool.sample)}")
        self.emit()
        self.emit()
        self.emit("class State(EnvState):")
        for col in self.cols:
            desc = f"{col.words.capitalize()} records by id"
            if col.parent:
                desc += f"; each belongs to a {col.parent.words} ({col.parent_field})"
            self.emit(f"    {col.key}: dict[str, dict[str, Any]] = Field(default_factory=dict, "
                      f"description={desc + '.'!r})")
        if self.uses_log:
            self.emit("    actions: list[dict[str, Any]] = Field(")
            self.emit("        default_factory=list,")
            self.emit("        description=\"Log of calls the simulation records without modelling them.\",")
            self.emit("    )")
        if not self.cols and not self.uses_log:
            self.emit("    pass")
        self.emit(HELPERS.rstrip("\n"))
        if self.uses_log:
            self.emit(LOG_HELPER.rstrip("\n"))

    def _id_example(self, col: Collection) -> str:
        return "1, 2, ..." if col.id_type == "integer" else f"{col.name_prefix}{col.prefix}_0001, ..."

    def collection_helpers(self, col: Collection) -> None:
        hint = f"; use {col.list_tool} to find ids" if col.list_tool else ""
        words = col.words
        self.emit()
        self.emit()
        if col.parent is not None:
            pw = col.parent.words
            self.emit(f"def {_finder(col)}(state: State, {col.singular}_id: Any, "
                      f"{col.parent.singular}_id: Any = None) -> dict[str, Any]:")
            self.emit(f'    """The {words} with this id (inside the given {pw}, when one is named)."""')
        else:
            self.emit(f"def {_finder(col)}(state: State, {col.singular}_id: Any) -> dict[str, Any]:")
            self.emit(f'    """The {words} with this id."""')
        self.emit(f"    record = state.{col.key}.get(_key({col.singular}_id))")
        self.emit("    if record is None:")
        self.emit(f'        raise ToolError(f"No {words} with id {{{col.singular}_id!r}}{hint}")')
        if col.parent is not None:
            pf = col.parent_field
            self.emit(f"    if {col.parent.singular}_id is not None and _key(record.get({pf!r})) != "
                      f"_key({col.parent.singular}_id):")
            self.emit(f'        raise ToolError(f"{words.capitalize()} {{{col.singular}_id!r}} does not belong to '
                      f'{col.parent.words} {{{col.parent.singular}_id!r}}{hint}")')
        self.emit("    return record")
        if col.writable:
            self.emit()
            self.emit()
            if col.id_type == "integer":
                self.emit(f"def _new_{col.singular}_id(state: State) -> int:")
                self.emit(f'    """The next free {words} id (counter {col.prefix!r})."""')
                self.emit(f"    number = state.counters.get({col.prefix!r}, 0) + 1")
                self.emit(f"    while str(number) in state.{col.key}:")
                self.emit("        number += 1")
                self.emit(f"    state.counters[{col.prefix!r}] = number")
                self.emit("    return number")
            elif col.id_style == "enum":
                self.emit(f"def _new_{col.singular}_id(state: State) -> str:")
                self.emit(f'    """The first {words} id of the API\'s fixed set that is not in use yet."""')
                self.emit(f"    for candidate in {tuple(col.id_enum)!r}:")
                self.emit(f"        if candidate not in state.{col.key}:")
                self.emit("            return candidate")
                self.emit(f'    raise ToolError("Every {words} id is already in use; change an existing one instead")')
            elif col.id_style != "mint":
                self.emit(f"def _new_{col.singular}_id(state: State) -> str:")
                self.emit(f'    """The next free {words} id (counter {col.prefix!r})."""')
                self.emit(f"    number = state.counters.get({col.prefix!r}, 0) + 1")
                self.emit(f"    while {self._format(col)} in state.{col.key}:")
                self.emit("        number += 1")
                self.emit(f"    state.counters[{col.prefix!r}] = number")
                self.emit(f"    return {self._format(col)}")
            else:
                self.emit(f"def _new_{col.singular}_id(state: State) -> str:")
                self.emit(f'    """The next free {words} id ({self._id_example(col).split(",")[0]}, ...)."""')
                self.emit(f"    new_id = {self._mint(col)}")
                self.emit(f"    while new_id in state.{col.key}:")
                self.emit(f"        new_id = {self._mint(col)}")
                self.emit("    return new_id")
        if True:
            children = [c for c in self.cols if c.parent is col]
            self.emit()
            self.emit()
            self.emit(f"def _remove_{col.singular}(state: State, key: str) -> None:")
            self.emit(f'    """Delete this {words} record and everything it owns."""')
            if children:
                self.emit(f"    record = state.{col.key}.pop(key, None)")
                self.emit("    if record is None:")
                self.emit("        return")
                for child in children:
                    self.emit(f"    for child in [k for k, r in state.{child.key}.items() "
                              f"if _key(r.get({child.parent_field!r})) == key]:")
                    self.emit(f"        _remove_{child.singular}(state, child)")
            else:
                self.emit(f"    state.{col.key}.pop(key, None)")

    def _format(self, col: Collection) -> str:
        if col.id_style == "uuid":
            return f'f"{col.name_prefix}00000000-0000-4000-8000-{{number:012d}}"'
        if col.id_style == "digits":
            return f'f"{col.name_prefix}{{number}}"'
        head = col.prefix[:3]
        return f'f"{col.name_prefix}{head}{{number:0{col.id_width - len(head)}d}}"'

    def _mint(self, col: Collection) -> str:
        if col.name_prefix:
            return f'{col.name_prefix!r} + state.mint_id({col.prefix!r})'
        return f"state.mint_id({col.prefix!r})"

    # -- tools -------------------------------------------------------------------------------------------------
    def tool(self, tool: Tool) -> None:
        plan, spec = tool.plan, tool.spec
        props = spec.input_schema.get("properties", {})
        required = spec.input_schema.get("required", [])
        params = [f"{n}: {_ann(props[n], True)}" for n in props if n in required]
        params += [f"{n}: {_ann(props[n], False)} = None" for n in props if n not in required]
        self.emit()
        self.emit()
        signature = f"def {spec.name}(state: State" + "".join(f", {p}" for p in params) + ") -> dict[str, Any]:"
        if len(signature) > 116:
            self.emit(f"def {spec.name}(")
            self.emit("    state: State,")
            for p in params:
                self.emit(f"    {p},")
            self.emit(") -> dict[str, Any]:")
        else:
            self.emit(signature)
        doc = " ".join((plan.op.summary or plan.op.description or spec.description).split()).split(". ")[0]
        doc = doc if len(doc) <= 100 else doc[:100].rsplit(" ", 1)[0] + "..."
        doc = doc.replace(chr(34) * 3, chr(39) * 3).replace(chr(92), "/")
        self.emit(f'    """{doc.rstrip(".") or spec.name}."""' if doc else f'    """{spec.name}."""')
        body = getattr(self, f"_{plan.kind}")(tool) if plan.collection is not None or plan.kind in (
            "read", "write") else self._write(tool)
        for line in body:
            self.emit("    " + line if line else "")

    def _ancestors(self, tool: Tool, upto: str | None, include_last: bool) -> tuple[list[str], str | None]:
        """Lookup lines for the path's id arguments; returns (lines, variable of the last record looked up)."""
        plan = tool.plan
        lines: list[str] = []
        last_var: str | None = None
        prev_col: Collection | None = None
        prev_arg: str | None = None
        items = list(plan.id_args.items())
        if upto is not None:
            cut = [a for a, _ in items].index(upto) + 1 if upto in plan.id_args else len(items)
            items = items[:cut]
        for i, (arg, col) in enumerate(items):
            is_last = i == len(items) - 1
            if is_last and not include_last:
                break
            var = col.singular if col.singular not in tool.args.values() and col.singular not in BUILTIN_NAMES \
                else f"{col.singular}_record"
            parent_arg = tool.py(prev_arg) if prev_col is not None and col.parent is prev_col else None
            call = f"{_finder(col)}(state, {tool.py(arg)}" + (f", {parent_arg})" if parent_arg else ")")
            last_in_chain = i == len(items) - 1
            lines.append(f"{var} = {call}" if last_in_chain else call)
            last_var, prev_col, prev_arg = var, col, arg
        return lines, last_var

    def _blank_checks(self, tool: Tool) -> list[str]:
        props = tool.spec.input_schema.get("properties", {})
        required = set(tool.spec.input_schema.get("required", []))
        col = tool.plan.collection
        lines = []
        for orig, ref in tool.plan.refs.items():
            py = tool.py(orig)
            if py in required:
                lines.append(f"{_finder(ref)}(state, {py})")
            else:
                lines.append(f"if {py} is not None:")
                lines.append(f"    {_finder(ref)}(state, {py})")
        for orig, py in tool.args.items():
            sub = schemas.resolve(props.get(py, {}))
            field = tool.plan.body.get(orig)
            named = col is not None and field is not None and field == col.name_field
            if schemas.accepts_blank(sub) and (py in required or named) and orig not in tool.plan.id_args:
                lines.append(f"_text({py}, {py!r})")
            elif schemas.main_type(sub) == "string" and sub.get("format") == "date-time":
                lines.append(f"_when({py}, {py!r})")
            elif orig == tool.plan.limit_arg and tool.plan.kind != "list":
                lines.append(f"if {py} is not None:")
                lines.append(f"    _size({py})")
            elif schemas.main_type(sub) == "object" and py in required and all(
                    k in (sub.get("properties") or {}) for k in ("lat", "lng")):
                lines.append(f"_between({py}.get('lat'), -90, 90, {py + '.lat'!r})")
                lines.append(f"_between({py}.get('lng'), -180, 180, {py + '.lng'!r})")
            elif schemas.main_type(sub) == "number" and "minimum" not in sub and "maximum" not in sub:
                low = names.snake(py)
                if low.split("_")[-1] in ("lat", "latitude"):
                    lines.append(f"_between({py}, -90, 90, {py!r})")
                elif low.split("_")[-1] in ("lng", "lon", "long", "longitude"):
                    lines.append(f"_between({py}, -180, 180, {py!r})")
        enums: dict[str, list[str]] = {}
        for py in tool.spec.input_schema.get("required", []):  # list order: a set's order varies per process
            enum = schemas.resolve(props.get(py, {})).get("enum")
            if isinstance(enum, list) and len(enum) > 1:
                enums.setdefault(json.dumps(enum, sort_keys=True), []).append(py)
        for group in enums.values():
            if len(group) == 2:
                a, b = group
                lines.append(f"if {a} == {b}:")
                lines.append(f'    raise ToolError(f"{a} and {b} must differ, both are {{{a}!r}}")')
        return lines

    def _changes(self, tool: Tool) -> str:
        items = [f"{field!r}: {tool.py(arg)}" for arg, field in tool.plan.body.items()]
        return "{" + ", ".join(items) + "}"

    def _all_args(self, tool: Tool) -> str:
        return "{" + ", ".join(f"{orig!r}: {py}" for orig, py in tool.args.items()) + "}"

    def _list(self, tool: Tool) -> list[str]:
        plan, col = tool.plan, tool.plan.collection
        assert col is not None
        lines, last = self._ancestors(tool, plan.parent_arg, True)
        if plan.parent_arg and last and col.parent is not None:
            pid = col.parent.id_field
            lines.append(f"records = [r for r in state.{col.key}.values() "
                         f"if _key(r.get({col.parent_field!r})) == _key({last}[{pid!r}])]")
        else:
            lines.append(f"records = list(state.{col.key}.values())")
        lines += self._blank_checks(tool)
        if plan.ids_arg:
            py = tool.py(plan.ids_arg)
            lines.append(f"if {py} is not None:")
            lines.append(f"    wanted = _id_list({py})")
            lines.append(f"    records = [r for r in records if _key(r.get({col.id_field!r})) in wanted]")
        for arg, field in plan.filters.items():
            py = tool.py(arg)
            lines.append(f"if {py} is not None:")
            lines.append(f"    records = [r for r in records if _same(r.get({field!r}), {py})]")
        if plan.search_arg:
            py = tool.py(plan.search_arg)
            lines.append(f"if {py} is not None:")
            lines.append(f"    records = [r for r in records if _search(r, {py})]")
        limit = tool.py(plan.limit_arg) or "None"
        cursor = tool.py(plan.cursor_arg) or "None"
        if plan.cursor_kind in ("offset", "page") and plan.cursor_arg:
            lines.append(f"page, next_cursor = _page_at(records, {limit}, {cursor}, {plan.cursor_kind == 'page'})")
        else:
            lines.append(f"page, next_cursor = _page(records, {limit}, {cursor}, {col.id_field!r}, "
                         f"{col.words!r})")
        lines.append(f"return {{{col.key!r}: page, \"next_cursor\": next_cursor}}")
        return lines

    def _get(self, tool: Tool) -> list[str]:
        col = tool.plan.collection
        assert col is not None
        lines, last = self._ancestors(tool, tool.plan.target_arg, True)
        lines += self._blank_checks(tool)
        lines.append(f"return {{{col.singular!r}: {last}}}")
        return lines

    def _create(self, tool: Tool) -> list[str]:
        plan, col = tool.plan, tool.plan.collection
        assert col is not None
        lines, last = self._ancestors(tool, plan.parent_arg, True) if plan.parent_arg else ([], None)
        lines += self._blank_checks(tool)
        record = [f"{col.id_field!r}: _new_{col.singular}_id(state)"]
        if col.parent is not None and last is not None and plan.parent_arg:
            record.append(f"{col.parent_field!r}: {last}[{col.parent.id_field!r}]")
        status = initial_status(col)
        if col.status_field and status is not None:
            record.append(f"{col.status_field!r}: {status!r}")
        for stamp in (col.created_field, col.updated_field):
            if stamp:
                record.append(f"{stamp!r}: state.now")
        lines.append("record = {" + ", ".join(record) + "}")
        if plan.body:
            lines.append(f"_apply(record, {self._changes(tool)})")
        lines.append(f"state.{col.key}[_key(record[{col.id_field!r}])] = record")
        lines.append(f"return {{{col.singular!r}: record}}")
        return lines

    def _update(self, tool: Tool, replace: bool = False) -> list[str]:
        plan, col = tool.plan, tool.plan.collection
        assert col is not None
        if plan.body_target:
            target = tool.py(plan.target_arg)
            lines = [] if target in tool.spec.input_schema.get("required", []) else [
                f"if {target} is None:",
                f"    raise ToolError(\"Give the {col.id_field} of the {col.words} to change; use "
                f"{col.list_tool or 'the list tool'} to find it\")"]
            last = col.singular if col.singular not in tool.args.values() and col.singular not in BUILTIN_NAMES \
                else f"{col.singular}_record"
            lines.append(f"{last} = {_finder(col)}(state, {target})")
        else:
            lines, last = self._ancestors(tool, plan.target_arg, True)
        lines += self._blank_checks(tool)
        if replace:
            keep = [f for f in (col.id_field, col.parent_field, col.created_field, col.status_field) if f]
            lines.append(f"kept = {{k: v for k, v in {last}.items() if k in {tuple(keep)!r}}}")
            lines.append(f"{last}.clear()")
            lines.append(f"{last}.update(kept)")
        if plan.body:
            lines.append(f"_apply({last}, {self._changes(tool)})")
        if col.updated_field:
            lines.append(f"{last}[{col.updated_field!r}] = state.now")
        lines.append(f"return {{{col.singular!r}: {last}}}")
        return lines

    def _replace(self, tool: Tool) -> list[str]:
        return self._update(tool, replace=True)

    def _delete(self, tool: Tool) -> list[str]:
        col = tool.plan.collection
        assert col is not None
        lines, last = self._ancestors(tool, tool.plan.target_arg, True)
        lines.append(f"_remove_{col.singular}(state, _key({last}[{col.id_field!r}]))")
        lines.append(f"return {{\"deleted\": True, {col.singular!r}: {last}}}")
        return lines

    def _action(self, tool: Tool) -> list[str]:
        plan, col = tool.plan, tool.plan.collection
        assert col is not None
        lines, last = self._ancestors(tool, plan.target_arg, True)
        lines += self._blank_checks(tool)
        verb = names.words(plan.verb or tool.spec.name)
        if plan.target_status and col.status_field:
            sf, target = col.status_field, plan.target_status
            lines.append(f"current = {last}.get({sf!r})")
            lines.append(f"if current == {target!r}:")
            lines.append(f"    raise ToolError(f\"{col.words.capitalize()} {{{tool.py(plan.target_arg)}!r}} is "
                         f"already {target}\")")
            lines.append(f"if current in {col.singular.upper()}_TERMINAL:")
            lines.append(f"    raise ToolError(f\"{col.words.capitalize()} {{{tool.py(plan.target_arg)}!r}} is "
                         f"{{current}} and can no longer {verb}\")")
            lines.append(f"{last}[{sf!r}] = {target!r}")
            if col.updated_field:
                lines.append(f"{last}[{col.updated_field!r}] = state.now")
        lines.append(f"entry = _log(state, {tool.spec.name!r}, {last}[{col.id_field!r}], {self._all_args(tool)})")
        lines.append(f"return {{{col.singular!r}: {last}, \"action\": entry}}")
        return lines

    def _read(self, tool: Tool) -> list[str]:
        lines, _ = self._ancestors(tool, None, True)
        lines = [ln.split(" = ", 1)[1] if " = " in ln else ln for ln in lines]
        lines += self._blank_checks(tool)
        lines.append(f"return {{\"result\": SAMPLE_{tool.spec.name.upper()}}}")
        return lines

    def _write(self, tool: Tool) -> list[str]:
        lines, last = self._ancestors(tool, None, True)
        lines += self._blank_checks(tool)
        cols = list(tool.plan.id_args.values())
        target = f"{last}[{cols[-1].id_field!r}]" if last and cols else "None"
        lines.append(f"entry = _log(state, {tool.spec.name!r}, {target}, {self._all_args(tool)})")
        lines.append("return {\"action\": entry}")
        return lines

    def render(self) -> str:
        self.header()
        for col in self.cols:
            self.collection_helpers(col)
        for tool in self.tools:
            self.tool(tool)
        out: list[str] = []
        for line in "\n".join(self.lines).split("\n"):
            out.extend(wrap(line))
        return "\n".join(out).rstrip("\n") + "\n"


def _split_top(text: str) -> list[str]:
    """Split `a, b, c` at commas outside brackets and strings."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def wrap(line: str, width: int = 120) -> list[str]:
    """Break a long generated line the way a person would (one dict item or call argument per line)."""
    if len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    body = line.strip()
    brace = body.find("{'")
    if brace == -1:
        brace = body.find('{"')
    if brace != -1 and body.endswith(("}", "})", "}]")) and "f\"" not in body[:brace]:
        tail = body[body.rfind("}") + 1:]
        items = _split_top(body[brace + 1: body.rfind("}")])
        return [indent + body[: brace + 1]] + [f"{indent}    {item}," for item in items] + [indent + "}" + tail]
    if body.endswith(")") and "= Field(" in body:
        head, args = body.split("= Field(", 1)
        return [f"{indent}{head}= Field("] + [f"{indent}    {a}," for a in _split_top(args[:-1])] + [indent + ")"]
    if body.startswith("raise ToolError(f\"") and "; " in body:
        cut = body.index("; ")
        first, rest = body[:cut] + '"', 'f"' + body[cut:]
        return [indent + first, indent + " " * len("raise ToolError(") + rest]
    return [line]


def render_env(api: ApiModel, collections: list[Collection], tools: list[Tool]) -> str:
    """The source of env.py."""
    return Writer(api, collections, tools).render()


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
