"""Write env.py: one pydantic model per collection, a State holding them by id, lookups, and one function per tool.

The generic pieces (record base class, filters, paging, id minting, the action log) come from registry.envkit, so
the generated file holds only what is specific to its API and imports only the helpers it calls.
"""

from __future__ import annotations

import ast
import builtins
import json
import keyword
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from servers.factory.apimodel import ApiModel
from servers.factory.generators.offline import names, schemas
from servers.factory.generators.offline.records import initial_status, is_terminal
from servers.factory.generators.offline.resources import Collection
from servers.factory.generators.offline.tools import Tool

KIT = ("Action", "Record", "apply", "clear", "id_list", "key", "log_action", "matches", "mentions", "new_id",
       "new_number", "page_size", "paginate", "paginate_by_offset", "require_between", "require_datetime",
       "require_text")
"""The registry.envkit names generated code may use (imported only where used)."""
MODULE_NAMES = frozenset({"Any", "Literal", "Field", "EnvState", "ToolError", "State", *KIT})
LOCAL_NAMES = frozenset(dir(builtins)) | MODULE_NAMES | {"record", "records", "page", "next_cursor", "entry",
                                                          "current", "wanted"}
"""Names a generated local variable must not take (it would shadow a builtin, an import or another local)."""
FIELD_RESERVED = frozenset(dir(BaseModel)) | {"str", "int", "float", "bool", "list", "dict", "Any", "Literal",
                                              "Field", "None"}
"""Python names a record field must not take: BaseModel attributes, and names its own annotations use."""
LITERAL_MAX = 90
PY_TYPES = {"string": "str", "integer": "int", "number": "int | float", "boolean": "bool", "array": "list[Any]",
            "object": "dict[str, Any]"}
"""JSON type -> annotation. Numbers keep ints as ints (a `float` field would turn a scenario's 5 into 5.0)."""


def _s(text: str) -> str:
    """A double-quoted Python string literal."""
    return json.dumps(text, ensure_ascii=False)


def _inline(value: Any) -> str:
    if isinstance(value, str):
        return _s(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_s(str(k))}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return repr(value)


def _lit(value: Any, indent: str = "", room: int = 120) -> str:
    """A JSON value as a Python literal laid out the way the formatter would: on one line when it fits in `room`
    characters, else one item per line (nested values get the same treatment)."""
    one = _inline(value)
    if len(one) <= room or not isinstance(value, dict | list | tuple) or not value:
        return one
    inner = indent + "    "
    if isinstance(value, dict):
        items = [f"{inner}{_s(str(k))}: {_lit(v, inner, 120 - len(inner) - len(_s(str(k))) - 3)},"
                 for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{indent}}}"
    return "[\n" + "\n".join(f"{inner}{_lit(v, inner, 120 - len(inner) - 1)}," for v in value) + f"\n{indent}]"


def _ann(schema: dict[str, Any], required: bool) -> str:
    """Annotation of a tool parameter (arguments arrive validated against the input schema)."""
    kind = schemas.main_type(schemas.resolve(schema))
    py = {**PY_TYPES, "number": "float"}.get(kind or "", "Any")
    return py if required else f"{py} | None"


def _finder(col: Collection) -> str:
    return f"_find_{col.singular}"


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_") if part)


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def _python_name(api_name: str, taken: set[str]) -> str:
    """A field's Python name: the API's name when it is already a plain snake_case identifier, else a safe one."""
    name = names.snake(api_name).lstrip("_") or "field"
    if name[0].isdigit():
        name = "n_" + name
    if keyword.iskeyword(name) or name in FIELD_RESERVED or name.startswith("model_"):
        name += "_"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _union(parts: list[str]) -> str:
    return " | ".join(dict.fromkeys(p for part in parts for p in part.split(" | ")))


@dataclass
class Model:
    """The record model of one collection: its class name and its fields (API name -> Python name)."""

    col: Collection
    name: str
    fields: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    aliases: list[tuple[str, str]] = field(default_factory=list)  # (alias name, Literal[...]) hoisted out

    def py(self, api_name: str) -> str:
        return self.fields[api_name]


def _field_type(schema: dict[str, Any]) -> tuple[str, list[Any]]:
    """The annotation of a record field (without `| None`), and its string enum when it has one."""
    kinds = [t for t in schemas.types_of(schema) if t != "null"] or [k for k in [schemas.main_type(schema)] if k]
    enum = schema.get("enum")
    values = [v for v in enum if v is not None] if isinstance(enum, list) else []
    if kinds == ["string"] and values and all(isinstance(v, str) for v in values):
        return "str", values
    if not kinds or any(k not in PY_TYPES for k in kinds):
        return "Any", []
    return _union([PY_TYPES[k] for k in kinds]), []


def build_models(collections: list[Collection]) -> dict[str, Model]:
    """Class and field names for every collection (collection key -> Model), unique within the module."""
    taken = set(MODULE_NAMES) | {n for n in dir(builtins) if n[:1].isupper()}
    models: dict[str, Model] = {}
    for col in collections:
        base = _camel(col.singular) or "Item"
        base = "N" + base if base[0].isdigit() else base
        model = Model(col=col, name=_unique(base + "Record" if base in taken else base, taken))
        props = col.schema.get("properties", {})
        used: set[str] = set()
        for api_name in sorted(props, key=lambda k: (k != col.id_field, k)):  # the order scenarios write them in
            py = _python_name(api_name, used)
            model.fields[api_name] = py
            ann, values = _field_type(props[api_name])
            if values:
                literal = "Literal[" + ", ".join(_s(v) for v in values) + "]"
                if len(literal) > LITERAL_MAX:
                    alias = _unique(model.name + _camel(py), taken)
                    model.aliases.append((alias, literal))
                    literal = alias
                ann = literal
            model.annotations[api_name] = ann
        models[col.key] = model
    return models


class Writer:
    def __init__(self, api: ApiModel, collections: list[Collection], tools: list[Tool]):
        self.api = api
        self.cols = collections
        self.tools = tools
        self.models = build_models(collections)
        self.lines: list[str] = []
        self.finders: set[str] = set()
        self.removers: set[str] = set()
        self.uses_log = any(t.plan.kind in ("action", "write") for t in tools)
        self.params: set[str] = set()  # parameters of the tool being written
        self.kit_used: set[str] = set()  # envkit names used bare, and "envkit" when one is used qualified

    def emit(self, text: str = "") -> None:
        self.lines.append(text)

    def kit(self, name: str) -> str:
        """A registry.envkit name, qualified (`envkit.page_size`) where a parameter of the tool being written has it.

        Recorded, so that the import lines name exactly what the module uses.
        """
        assert name in KIT, name
        if name in self.params:
            self.kit_used.add("envkit")
            return f"envkit.{name}"
        self.kit_used.add(name)
        return name

    def model(self, col: Collection) -> Model:
        return self.models[col.key]

    def attr(self, var: str, col: Collection, api_name: str) -> str:
        return f"{var}.{self.model(col).py(api_name)}"

    def find(self, col: Collection) -> str:
        self.finders.add(col.key)
        return _finder(col)

    def key(self, expr: str) -> str:
        return f"{self.kit('key')}({expr})"

    # -- module parts ------------------------------------------------------------------------------------------
    def docstring(self) -> None:
        api = self.api
        title = " ".join(api.title.split()) or api.name
        self.emit('"""' + f"{title}: a stateful simulation generated offline from {api.importer} "
                  f"({api.source.rsplit('/', 1)[-1]}).")
        self.emit()
        self.emit("Records live in the State as pydantic models, one dict per collection keyed by id:")
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

    def imports(self, body: str) -> None:
        """Import exactly the names the module uses: typing and pydantic names as read from its syntax tree (no
        parameter can have them: parameters are snake_case), envkit names as recorded while writing."""
        try:
            used = {n.id for n in ast.walk(ast.parse(body)) if isinstance(n, ast.Name)}
        except SyntaxError:  # a tool name that is a keyword, say: the static policy reports it, with its line
            used = {"Any", "Literal", "Field"}
        typing = [n for n in ("Any", "Literal") if n in used]
        kit = sorted(self.kit_used - {"envkit"}, key=lambda n: (n[0].islower(), n))  # classes first, as isort does
        if typing:
            self.emit(f"from typing import {', '.join(typing)}")
            self.emit()
        if "Field" in used:
            self.emit("from pydantic import Field")
            self.emit()
        if "envkit" in self.kit_used:
            self.emit("from registry import envkit")
        self.emit("from registry.contract import EnvState, ToolError")
        if kit:
            self.lines += _call("from registry.envkit import (", kit, ")", parenthesised=True)

    def constants(self) -> None:
        for col in self.cols:
            model = self.model(col)
            for alias, literal in model.aliases:
                self.emit()
                self.emit(f"{alias} = {literal}")
        for col in self.cols:
            if col.status_field:
                terminal = [s for s in col.statuses if is_terminal(s)]
                items = ", ".join(_s(s) for s in terminal)
                self.emit(f"{col.singular.upper()}_TERMINAL = ({items}{',' if len(terminal) == 1 else ''})")
        for tool in self.tools:
            if tool.plan.kind == "read":
                self.emit()
                head = f"SAMPLE_{tool.spec.name.upper()} = "
                self.emit(head + _lit(tool.sample, "", 120 - len(head)))

    def record_class(self, col: Collection) -> None:
        model = self.model(col)
        self.emit()
        self.emit()
        self.emit(f"class {model.name}({self.kit('Record')}):")
        owner = f"; each belongs to a {col.parent.words} ({col.parent_field})" if col.parent else ""
        article = "An" if col.words[:1] in "aeiou" else "A"
        self.emit(f'    """{article} {col.words} record{owner}."""')
        self.emit()
        for api_name, py in model.fields.items():
            ann = model.annotations[api_name]
            alias = f"alias={_s(api_name)}" if py != api_name else ""
            if api_name == col.id_field:
                self.emit(f"    {py}: {ann}" + (f" = Field({alias})" if alias else ""))
            else:
                ann = "Any" if ann == "Any" else f"{ann} | None"
                self.emit(f"    {py}: {ann} = " + (f"Field(default=None, {alias})" if alias else "None"))

    def state_class(self) -> None:
        self.emit()
        self.emit()
        self.emit("class State(EnvState):")
        for col in self.cols:
            desc = f"{col.words.capitalize()} records by id"
            if col.parent:
                desc += f"; each belongs to a {col.parent.words} ({col.parent_field})"
            self.emit(f"    {col.key}: dict[str, {self.model(col).name}] = Field(default_factory=dict, "
                      f"description={_s(desc + '.')})")
        if self.uses_log:
            self.emit(f"    actions: list[{self.kit('Action')}] = Field(")
            self.emit("        default_factory=list,")
            self.emit("        description=\"Log of calls the simulation records without modelling them.\",")
            self.emit("    )")
        if not self.cols and not self.uses_log:
            self.emit("    pass")

    def _id_example(self, col: Collection) -> str:
        return "1, 2, ..." if col.id_type == "integer" else f"{col.name_prefix}{col.prefix}_0001, ..."

    def finder(self, col: Collection) -> None:
        hint = f"; use {col.list_tool} to find ids" if col.list_tool else ""
        words, model = col.words, self.model(col)
        self.emit()
        self.emit()
        if col.parent is not None:
            pw = col.parent.words
            self.emit(f"def {_finder(col)}(state: State, {col.singular}_id: Any, "
                      f"{col.parent.singular}_id: Any = None) -> {model.name}:")
            self.emit(f'    """The {words} with this id (inside the given {pw}, when one is named)."""')
        else:
            self.emit(f"def {_finder(col)}(state: State, {col.singular}_id: Any) -> {model.name}:")
            self.emit(f'    """The {words} with this id."""')
        self.emit(f"    record = state.{col.key}.get({self.key(col.singular + '_id')})")
        self.emit("    if record is None:")
        self.emit(f'        raise ToolError(f"No {words} with id {{{col.singular}_id!r}}{hint}")')
        if col.parent is not None:
            owner = self.attr("record", col, col.parent_field or "")
            self.emit(f"    if {col.parent.singular}_id is not None and {self.key(owner)} != "
                      f"{self.key(col.parent.singular + '_id')}:")
            self.emit(f'        raise ToolError(f"{words.capitalize()} {{{col.singular}_id!r}} does not belong to '
                      f'{col.parent.words} {{{col.parent.singular}_id!r}}{hint}")')
        self.emit("    return record")

    def enum_id_helper(self, col: Collection) -> None:
        self.emit()
        self.emit()
        self.emit(f"def _new_{col.singular}_id(state: State) -> str:")
        self.emit(f'    """The first {col.words} id of the API\'s fixed set that is not in use yet."""')
        candidates = ", ".join(_s(v) for v in col.id_enum) + ("," if len(col.id_enum) == 1 else "")
        self.emit(f"    for candidate in ({candidates}):")
        self.emit(f"        if candidate not in state.{col.key}:")
        self.emit("            return candidate")
        self.emit(f'    raise ToolError("Every {col.words} id is already in use; change an existing one instead")')

    def _children(self, col: Collection) -> list[Collection]:
        return [c for c in self.cols if c.parent is col]

    def remove(self, col: Collection, expr: str) -> str:
        """A statement deleting the record keyed `expr` and, through _remove_<x> helpers, what it owns."""
        if not self._children(col):
            return f"state.{col.key}.pop({expr}, None)"
        self.removers.add(col.key)
        return f"_remove_{col.singular}(state, {expr})"

    def remover(self, col: Collection) -> None:
        name = f"{col.singular}_key"
        self.emit()
        self.emit()
        self.emit(f"def _remove_{col.singular}(state: State, {name}: str) -> None:")
        self.emit(f'    """Delete this {col.words} record and everything it owns."""')
        self.emit(f"    if state.{col.key}.pop({name}, None) is None:")
        self.emit("        return")
        for child in self._children(col):
            var = self._item_var(child, {"child", "k", name})
            owner = self.key(self.attr(var, child, child.parent_field or ""))
            self.emit(f"    for child in [k for k, {var} in state.{child.key}.items() if {owner} == {name}]:")
            self.emit(f"        {self.remove(child, 'child')}")

    def new_id(self, col: Collection) -> str:
        """The expression minting the id of a new record of `col`."""
        if col.id_type == "integer":
            return f"{self.kit('new_number')}(state, {_s(col.prefix)}, state.{col.key})"
        if col.id_style == "enum":
            return f"_new_{col.singular}_id(state)"
        if col.id_style == "uuid":
            stem, width = col.name_prefix + "00000000-0000-4000-8000-", 12
        elif col.id_style == "digits":
            stem, width = col.name_prefix, 0
        elif col.id_style == "alnum":
            stem, width = col.name_prefix + col.prefix[:3], col.id_width - len(col.prefix[:3])
        else:
            stem, width = f"{col.name_prefix}{col.prefix}_", 4
        tail = "" if width == 4 else f", {width}"
        return f"{self.kit('new_id')}(state, {_s(col.prefix)}, state.{col.key}, {_s(stem)}{tail})"

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
        doc = doc.replace(chr(34) * 3, chr(39) * 3).replace(chr(92), "/").strip(chr(34) + " ")
        self.emit(f'    """{doc.rstrip(".") or spec.name}."""' if doc else f'    """{spec.name}."""')
        self.params = set(tool.args.values())
        body = getattr(self, f"_{plan.kind}")(tool) if plan.collection is not None or plan.kind in (
            "read", "write") else self._write(tool)
        self.params = set()
        for line in body:
            self.emit("    " + line if line else "")

    def _var(self, tool: Tool, col: Collection) -> str:
        """The local name of a looked-up record: the collection's singular, unless an argument or import has it."""
        taken = set(tool.args.values()) | LOCAL_NAMES
        plain = col.singular not in taken and not keyword.iskeyword(col.singular)
        return col.singular if plain else f"{col.singular}_record"

    def _item_var(self, col: Collection, taken: set[str]) -> str:
        """The loop variable of a comprehension over records of `col`: its last word (`change` for data point
        changes) or its singular, unless an argument, a builtin or an import has the name."""
        for name in (col.singular.rsplit("_", 1)[-1], col.singular):
            if name not in taken | LOCAL_NAMES and not keyword.iskeyword(name) and not name[0].isdigit():
                return name
        return "record"

    def _ancestors(self, tool: Tool, upto: str | None) -> tuple[list[str], str | None]:
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
            var = self._var(tool, col)
            parent_arg = tool.py(prev_arg) if prev_col is not None and col.parent is prev_col else None
            call = f"{self.find(col)}(state, {tool.py(arg)}" + (f", {parent_arg})" if parent_arg else ")")
            lines.append(f"{var} = {call}" if i == len(items) - 1 else call)
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
                lines.append(f"{self.find(ref)}(state, {py})")
            else:
                lines.append(f"if {py} is not None:")
                lines.append(f"    {self.find(ref)}(state, {py})")
        for orig, py in tool.args.items():
            sub = schemas.resolve(props.get(py, {}))
            body_field = tool.plan.body.get(orig)
            named = col is not None and body_field is not None and body_field == col.name_field
            if schemas.accepts_blank(sub) and (py in required or named) and orig not in tool.plan.id_args:
                lines.append(f"{self.kit('require_text')}({py}, {_s(py)})")
            elif schemas.main_type(sub) == "string" and sub.get("format") == "date-time":
                lines.append(f"{self.kit('require_datetime')}({py}, {_s(py)})")
            elif orig == tool.plan.limit_arg and tool.plan.kind != "list":
                lines.append(f"{self.kit('page_size')}({py})  # refuses a bad limit; this call returns no pages")
            elif schemas.main_type(sub) == "object" and py in required and all(
                    k in (sub.get("properties") or {}) for k in ("lat", "lng")):
                between = self.kit("require_between")
                lines.append(f"{between}({py}.get(\"lat\"), -90, 90, {_s(py + '.lat')})")
                lines.append(f"{between}({py}.get(\"lng\"), -180, 180, {_s(py + '.lng')})")
            elif schemas.main_type(sub) == "number" and "minimum" not in sub and "maximum" not in sub:
                low = names.snake(py)
                if low.split("_")[-1] in ("lat", "latitude"):
                    lines.append(f"{self.kit('require_between')}({py}, -90, 90, {_s(py)})")
                elif low.split("_")[-1] in ("lng", "lon", "long", "longitude"):
                    lines.append(f"{self.kit('require_between')}({py}, -180, 180, {_s(py)})")
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

    def _apply(self, tool: Tool, var: str) -> list[str]:
        """`apply(record, field=argument, ...)` for the body arguments (the last argument wins a shared field)."""
        col = tool.plan.collection
        assert col is not None
        changes: dict[str, str] = {}
        for arg, api_field in tool.plan.body.items():
            changes[self.model(col).py(api_field)] = tool.py(arg) or arg
        if not changes:
            return []
        return _call(f"{self.kit('apply')}(", [var, *(f"{k}={v}" for k, v in changes.items())], ")")

    def _arguments(self, tool: Tool) -> str:
        return "{" + ", ".join(f"{_s(orig)}: {py}" for orig, py in tool.args.items()) + "}"

    def _dump(self, var: str) -> str:
        return f"{var}.model_dump()"

    def _list(self, tool: Tool) -> list[str]:
        plan, col = tool.plan, tool.plan.collection
        assert col is not None
        lines, last = self._ancestors(tool, plan.parent_arg)
        item = self._item_var(col, set(tool.args.values()) | ({last} if last else set()))
        if plan.parent_arg and last and col.parent is not None:
            owner = self.key(self.attr(item, col, col.parent_field or ""))
            parent_id = self.key(self.attr(last, col.parent, col.parent.id_field))
            lines.append(f"records = [{item} for {item} in state.{col.key}.values() if {owner} == {parent_id}]")
        else:
            lines.append(f"records = list(state.{col.key}.values())")
        lines += self._blank_checks(tool)
        record_id = self.attr(item, col, col.id_field)
        if plan.ids_arg:
            py = tool.py(plan.ids_arg)
            lines.append(f"if {py} is not None:")
            lines.append(f"    wanted = {self.kit('id_list')}({py})")
            lines.append(f"    records = [{item} for {item} in records if {self.key(record_id)} in wanted]")
        for arg, api_field in plan.filters.items():
            py = tool.py(arg)
            lines.append(f"if {py} is not None:")
            lines.append(f"    records = [{item} for {item} in records if "
                         f"{self.kit('matches')}({self.attr(item, col, api_field)}, {py})]")
        if plan.search_arg:
            py = tool.py(plan.search_arg)
            lines.append(f"if {py} is not None:")
            lines.append(f"    records = [{item} for {item} in records if {self.kit('mentions')}({item}, {py})]")
        limit = tool.py(plan.limit_arg) or "None"
        cursor = tool.py(plan.cursor_arg) or "None"
        if plan.cursor_kind in ("offset", "page") and plan.cursor_arg:
            lines.append(f"page, next_cursor = {self.kit('paginate_by_offset')}(records, {limit}, {cursor}, "
                         f"{plan.cursor_kind == 'page'})")
        else:
            lines.append(f"page, next_cursor = {self.kit('paginate')}(records, {limit}, {cursor}, "
                         f"lambda {item}: {record_id}, {_s(col.words)})")
        lines.append(f"return {{{_s(col.key)}: [{item}.model_dump() for {item} in page], "
                     "\"next_cursor\": next_cursor}")
        return lines

    def _get(self, tool: Tool) -> list[str]:
        col = tool.plan.collection
        assert col is not None
        lines, last = self._ancestors(tool, tool.plan.target_arg)
        lines += self._blank_checks(tool)
        lines.append(f"return {{{_s(col.singular)}: {self._dump(last or 'None')}}}")
        return lines

    def _create(self, tool: Tool) -> list[str]:
        plan, col = tool.plan, tool.plan.collection
        assert col is not None
        model = self.model(col)
        lines, last = self._ancestors(tool, plan.parent_arg) if plan.parent_arg else ([], None)
        lines += self._blank_checks(tool)
        var = self._var(tool, col)
        if var == last:
            var = f"new_{col.singular}"
        fields = [f"{model.py(col.id_field)}={self.new_id(col)}"]
        if col.parent is not None and last is not None and plan.parent_arg:
            fields.append(f"{model.py(col.parent_field or '')}={self.attr(last, col.parent, col.parent.id_field)}")
        status = initial_status(col)
        if col.status_field and status is not None:
            fields.append(f"{model.py(col.status_field)}={_s(status)}")
        for stamp in (col.created_field, col.updated_field):
            if stamp:
                fields.append(f"{model.py(stamp)}=state.now")
        lines += _call(f"{var} = {model.name}(", fields, ")")
        lines += self._apply(tool, var)
        lines.append(f"state.{col.key}[{self.key(self.attr(var, col, col.id_field))}] = {var}")
        lines.append(f"return {{{_s(col.singular)}: {self._dump(var)}}}")
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
            last = self._var(tool, col)
            lines.append(f"{last} = {self.find(col)}(state, {target})")
        else:
            lines, found = self._ancestors(tool, plan.target_arg)
            last = found or "None"
        lines += self._blank_checks(tool)
        if replace:
            keep = [f for f in (col.id_field, col.parent_field, col.created_field, col.status_field) if f]
            lines.append(f"{self.kit('clear')}({last}, {', '.join(_s(self.model(col).py(f)) for f in keep)})")
        lines += self._apply(tool, last)
        if col.updated_field:
            lines.append(f"{self.attr(last, col, col.updated_field)} = state.now")
        lines.append(f"return {{{_s(col.singular)}: {self._dump(last)}}}")
        return lines

    def _replace(self, tool: Tool) -> list[str]:
        return self._update(tool, replace=True)

    def _delete(self, tool: Tool) -> list[str]:
        col = tool.plan.collection
        assert col is not None
        lines, last = self._ancestors(tool, tool.plan.target_arg)
        last = last or "None"
        lines.append(self.remove(col, self.key(self.attr(last, col, col.id_field))))
        lines.append(f"return {{\"deleted\": True, {_s(col.singular)}: {self._dump(last)}}}")
        return lines

    def _log(self, tool: Tool, target: str) -> list[str]:
        return _call(f"entry = {self.kit('log_action')}(", ["state", _s(tool.spec.name), target,
                                                             self._arguments(tool)], ")")

    def _action(self, tool: Tool) -> list[str]:
        plan, col = tool.plan, tool.plan.collection
        assert col is not None
        lines, found = self._ancestors(tool, plan.target_arg)
        last = found or "None"
        lines += self._blank_checks(tool)
        verb = names.words(plan.verb or tool.spec.name)
        if plan.target_status and col.status_field:
            status, target = self.attr(last, col, col.status_field), plan.target_status
            what = f"{col.words.capitalize()} {{{tool.py(plan.target_arg)}!r}}"
            lines.append(f"current = {status}")
            lines.append(f"if current == {_s(target)}:")
            lines.append(f"    raise ToolError(f\"{what} is already {target}\")")
            lines.append(f"if current in {col.singular.upper()}_TERMINAL:")
            lines.append(f"    raise ToolError(f\"{what} is {{current}} and can no longer {verb}\")")
            lines.append(f"{status} = {_s(target)}")
            if col.updated_field:
                lines.append(f"{self.attr(last, col, col.updated_field)} = state.now")
        lines += self._log(tool, self.attr(last, col, col.id_field))
        lines.append(f"return {{{_s(col.singular)}: {self._dump(last)}, \"action\": entry.model_dump()}}")
        return lines

    def _read(self, tool: Tool) -> list[str]:
        lines, _ = self._ancestors(tool, None)
        lines = [ln.split(" = ", 1)[1] if " = " in ln else ln for ln in lines]
        lines += self._blank_checks(tool)
        lines.append(f"return {{\"result\": SAMPLE_{tool.spec.name.upper()}}}")
        return lines

    def _write(self, tool: Tool) -> list[str]:
        lines, last = self._ancestors(tool, None)
        lines += self._blank_checks(tool)
        cols = list(tool.plan.id_args.values())
        target = self.attr(last, cols[-1], cols[-1].id_field) if last and cols else "None"
        lines += self._log(tool, target)
        lines.append("return {\"action\": entry.model_dump()}")
        return lines

    def render(self) -> str:
        for tool in self.tools:  # tools first: they decide which lookups and helpers the module needs
            self.tool(tool)
        tools, self.lines = self.lines, []
        for col in self.cols:
            if col.key in self.finders:
                self.finder(col)
            if col.id_style == "enum" and col.id_type != "integer" and any(
                    t.plan.kind == "create" and t.plan.collection is col for t in self.tools):
                self.enum_id_helper(col)
        pending = [c for c in self.cols if c.key in self.removers]
        done: set[str] = set()
        while pending:  # removers register the removers of their children
            col = pending.pop(0)
            if col.key not in done:
                done.add(col.key)
                self.remover(col)
                pending += [c for c in self.cols if c.key in self.removers and c.key not in done]
        helpers, self.lines = self.lines, []
        for col in self.cols:
            self.record_class(col)
        self.state_class()
        classes, self.lines = self.lines, []
        self.constants()
        constants, self.lines = self.lines, []
        self.docstring()
        self.imports("\n".join(classes + helpers + tools + constants))
        while constants and not constants[0]:
            constants.pop(0)
        if constants:
            self.emit()
            self.lines += constants
        self.lines += classes + helpers + tools
        out: list[str] = []
        for line in "\n".join(self.lines).split("\n"):
            out.extend(wrap(line))
        return "\n".join(out).rstrip("\n") + "\n"


def _call(head: str, args: list[str], tail: str, width: int = 116, parenthesised: bool = False) -> list[str]:
    """`head` + args + `tail` on one line, or one argument per line when that is too long (a person's layout).

    `parenthesised`: `head` ends with a bracket that only the long layout needs (an import list).
    """
    one = (head.rstrip("( ") + " " if parenthesised else head) + ", ".join(args) + ("" if parenthesised else tail)
    if len(one.strip()) <= width:
        return [one.rstrip()]
    return [head] + [f"    {a}," for a in args] + [tail]


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
    if brace != -1 and body.endswith(("}", "})", "}]", "},")) and "f\"" not in body[:brace]:
        tail = body[body.rfind("}") + 1:]
        items = _split_top(body[brace + 1: body.rfind("}")])
        return [indent + body[: brace + 1]] + [f"{indent}    {item}," for item in items] + [indent + "}" + tail]
    if body.endswith(")") and "= Field(" in body:
        head, args = body.split("= Field(", 1)
        return [f"{indent}{head}= Field("] + [f"{indent}    {a}," for a in _split_top(args[:-1])] + [indent + ")"]
    if body.startswith("raise ToolError(f\"") and body.endswith("\")") and "; " in body:
        cut = body.index("; ")
        message = body[len("raise ToolError("):-1]
        if len(indent) + 4 + len(message) <= width:
            return [indent + "raise ToolError(", f"{indent}    {message}", indent + ")"]
        first, rest = body[len("raise ToolError("):cut] + '"', 'f"' + body[cut:-1]
        return [indent + "raise ToolError(", f"{indent}    {first}", f"{indent}    {rest}", indent + ")"]
    return _bracketed(indent, body, width) or [line]


def _bracketed(indent: str, body: str, width: int) -> list[str] | None:
    """`head(inner)tail` as the formatter lays it out: the inner part on its own line, else one item per line."""
    opening = next((i for i, ch in enumerate(body) if ch in "([" and _balanced(body[:i])), -1)
    closer = {"(": ")", "[": "]"}.get(body[opening] if opening >= 0 else "", "")
    end = body.rfind(closer) if closer else -1
    if end <= opening or body[end + 1:] not in ("", ":") or not _balanced(body[opening + 1:end]):
        return None
    head, inner, tail = body[:opening + 1], body[opening + 1:end], body[end:]
    if len(indent) + 4 + len(inner) <= width:
        return [indent + head, f"{indent}    {inner}", indent + tail]
    clauses = _clauses(inner)
    if len(clauses) > 1:  # a comprehension: element, then each `for` and `if` on its own line
        return [indent + head] + [f"{indent}    {c}" for c in clauses] + [indent + tail]
    items = _split_top(inner)
    if len(items) < 2:
        return None
    return [indent + head] + [f"{indent}    {item}," for item in items] + [indent + tail]


def _clauses(text: str) -> list[str]:
    """A comprehension cut before each top-level `for` and `if` (one part when `text` is not one)."""
    cuts = [i for word in (" for ", " if ") for i in range(len(text)) if text.startswith(word, i)
            and _balanced(text[:i])]
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b].strip() for a, b in zip(bounds, bounds[1:], strict=False) if text[a:b].strip()]


def _balanced(text: str) -> bool:
    """No bracket left open in `text` (outside strings)."""
    depth, quote = 0, ""
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
    return depth == 0 and not quote


def render_env(api: ApiModel, collections: list[Collection], tools: list[Tool]) -> str:
    """The source of env.py."""
    return Writer(api, collections, tools).render()
