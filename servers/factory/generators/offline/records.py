"""Record schemas per collection and the argument-to-field wiring of every plan."""

from __future__ import annotations

import re
from typing import Any

from servers.factory.generators.offline import names, schemas
from servers.factory.generators.offline.resources import (
    CREATED_FIELDS,
    CURSOR_NAMES,
    LIMIT_NAMES,
    NAME_FIELDS,
    STATUS_FIELDS,
    UPDATED_FIELDS,
    VERB_STATUS,
    Collection,
    Plan,
    _list_items,
    _object_schema,
    parents_first,
)

SEARCH_NAMES = {"q", "query", "search", "term", "text", "keyword", "keywords", "search_query"}
TERMINAL = ("cancel", "delet", "complet", "refund", "expir", "clos", "fail", "reject", "archiv", "done", "finish",
            "ended", "revok")
INITIAL = ("active", "available", "open", "new", "draft", "pending", "scheduled", "needs_action", "created", "placed",
           "available", "enabled", "confirmed", "requested", "accepted", "queued", "valid")
ID_FIELDS = ("id", "uuid", "resource_name", "key")


def format_id(col: Collection, n: int) -> str | int:
    """The id of the n-th record of a collection, in the collection's id style."""
    if col.id_type == "integer":
        return n
    if col.id_style == "uuid":
        return f"{col.name_prefix}00000000-0000-4000-8000-{n:012d}"
    if col.id_style == "enum":
        return col.id_enum[n - 1] if n <= len(col.id_enum) else f"{col.id_enum[0]}_{n}"
    if col.id_style == "digits":
        return f"{col.name_prefix}{n}"
    if col.id_style == "alnum":
        head = col.prefix[:3]
        return f"{col.name_prefix}{head}{n:0{col.id_width - len(head)}d}"
    return f"{col.name_prefix}{col.prefix}_{n:04d}"


def _id_style(col: Collection, schema: dict[str, Any]) -> None:
    """Pick an id shape that the id parameter's format/pattern accepts (ids must be usable as arguments)."""
    fmt, pattern = schema.get("format"), schema.get("pattern")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        col.id_style, col.id_enum = "enum", list(enum)
        return
    if fmt == "uuid":
        col.id_style = "uuid"
        return
    if not isinstance(pattern, str):
        return
    width = re.search(r"\{(\d+)\}", pattern)
    options = [("mint", 0), ("uuid", 0), ("digits", 0)]
    if width:
        options.append(("alnum", int(width.group(1))))
    for style, w in options:
        col.id_style, col.id_width = style, w
        try:
            if all(re.search(pattern, str(format_id(col, n))) for n in (1, 9999)):
                return
        except re.error:
            break
    col.id_style, col.id_width = "mint", 0


def _norm(text: str) -> str:
    return names.snake(text).replace("_", "")


def _record_source(root: dict[str, Any], col: Collection, plans: list[Plan]) -> dict[str, Any]:
    mine = [p for p in plans if p.collection is col]
    by_kind = {k: [p for p in mine if p.kind == k] for k in ("get", "create", "replace", "update", "list")}
    for kind in ("get", "create", "replace", "update"):
        for p in by_kind[kind]:
            found = _object_schema(p.op.response_schema, root)
            if found is not None:
                return found
    for p in by_kind["list"]:
        _, item = _list_items(p.op.response_schema, root, col.segment)
        if item is not None:
            return item
    for kind in ("create", "replace", "update"):
        for p in by_kind[kind]:
            found = _object_schema(p.op.body_schema, root)
            if found is not None:
                return found
    return {"type": "object", "properties": {"name": {"type": "string"}}}


def _pick(props: dict[str, Any], candidates: tuple[str, ...], kind: str | None = None) -> str | None:
    norm = {_norm(k): k for k in props}
    for cand in candidates:
        key = norm.get(_norm(cand))
        if key is not None and (kind is None or schemas.main_type(props[key]) == kind):
            return key
    return None


def _setup_collection(root: dict[str, Any], col: Collection, plans: list[Plan]) -> None:
    raw = _record_source(root, col, plans)
    col.raw_schema = raw
    record = schemas.simplify(raw, root)
    record["type"] = "object"
    record.pop("description", None)
    props: dict[str, Any] = dict(record.get("properties") or {})
    # id field: the schema's own id, else "<singular>Id", else google-style resource names, else a new `id`
    id_field = _pick(props, ("id", f"{col.singular}_id", f"{col.singular}Id", "uuid", "resource_name"))
    path_params = [p for p in plans if p.collection is col and p.target_arg]
    id_schema: dict[str, Any] = {}
    for p in path_params:
        prop = (p.op.input_schema.get("properties") or {}).get(p.target_arg or "")
        if isinstance(prop, dict):
            id_schema = schemas.resolve(prop, root)
            break
    if id_field is None and "name" in props and any(
            (q.original in ("name", "resourceName")) for p in path_params for q in p.op.params
            if q.name == p.target_arg):
        id_field = "name"
        col.name_prefix = col.segment + "/"
    if id_field is None and "resourceName" in props:
        id_field = "resourceName"
        col.name_prefix = col.segment + "/"
    id_field = id_field or "id"
    field_type = schemas.main_type(props.get(id_field, {})) or schemas.main_type(id_schema) or "string"
    param_type = schemas.main_type(id_schema)
    col.id_type = "integer" if param_type == "integer" or (field_type == "integer" and param_type is None) \
        else "string"
    col.id_field = id_field
    if col.id_type == "string":
        _id_style(col, id_schema)
    props[id_field] = {"type": col.id_type, "description": f"Id of the {col.words}."}
    if col.parent is not None:
        pf = _pick(props, (f"{col.parent.singular}_id", f"{col.parent.singular}Id"))
        if pf is None or schemas.main_type(props[pf]) not in (None, col.parent.id_type):
            pf = f"{col.parent.singular}_id"
        col.parent_field = pf
        props[pf] = {"type": col.parent.id_type, "description": f"Id of the {col.parent.words} it belongs to."}
    col.name_field = _pick(props, NAME_FIELDS, "string")
    status = _pick(props, STATUS_FIELDS, "string")
    if status is not None and isinstance(props[status].get("enum"), list):
        values = [v for v in props[status]["enum"] if isinstance(v, str)]
        if len(values) >= 2:
            col.status_field, col.statuses = status, values
    col.created_field = _pick(props, CREATED_FIELDS, "string")
    col.updated_field = _pick(props, UPDATED_FIELDS, "string")
    record["properties"] = props
    record["required"] = [id_field]
    col.schema = record


def _widen_with_body(col: Collection, plan: Plan, root: dict[str, Any]) -> None:
    props = col.schema["properties"]
    norm = {_norm(k): k for k in props}
    for param in plan.op.params:
        if param.location != "body":
            continue
        if plan.body_target and _norm(param.original) == _norm(col.id_field):
            plan.target_arg = param.name
            continue
        field = norm.get(_norm(param.original))
        if field in (col.id_field, col.parent_field):
            continue
        if field is None:
            field = param.original
            props[field] = schemas.simplify(param.json_schema, root, 1)
            norm[_norm(field)] = field
        else:
            props[field] = schemas.widen(props[field], schemas.resolve(param.json_schema, root))
        plan.body[param.name] = field


def _wire_list(col: Collection, plan: Plan) -> None:
    props = col.schema["properties"]
    norm = {_norm(k): k for k in props}
    for param in plan.op.params:
        if param.location not in ("query", "body") or param.name in plan.id_args or param.name == plan.parent_arg:
            continue
        sname = names.snake(param.original)
        kind = schemas.main_type(param.json_schema)
        if sname in LIMIT_NAMES and kind in ("integer", "number") and plan.limit_arg is None:
            plan.limit_arg = param.name
        elif sname in CURSOR_NAMES and plan.cursor_arg is None and kind in ("string", "integer", None):
            plan.cursor_arg = param.name
            plan.cursor_kind = "offset" if kind == "integer" and sname != "page" else \
                "page" if kind == "integer" else "token"
        elif sname in ("ids", f"{col.singular}_ids") and kind in ("string", "array") and plan.ids_arg is None:
            plan.ids_arg = param.name
        elif sname in SEARCH_NAMES and kind == "string" and plan.search_arg is None:
            plan.search_arg = param.name
        else:
            field = norm.get(_norm(param.original)) or norm.get(_norm(names.singular(sname)))
            if field is not None and field not in (col.id_field,) and kind in ("string", "integer", "number",
                                                                               "boolean", "array"):
                plan.filters[param.name] = field


def _wire_action(col: Collection, plan: Plan) -> None:
    if not col.status_field:
        return
    words = plan.verb.split("_")
    for word in words:
        for cand in VERB_STATUS.get(word, ()):
            for value in col.statuses:
                if _norm(value) == _norm(cand):
                    plan.target_status = value
                    return


def initial_status(col: Collection) -> str | None:
    if not col.statuses:
        return None
    for pref in INITIAL:
        for value in col.statuses:
            if _norm(value) == _norm(pref):
                return value
    for value in col.statuses:
        if not is_terminal(value):
            return value
    return col.statuses[0]


def is_terminal(value: str) -> bool:
    low = value.lower()
    return any(t in low for t in TERMINAL)


def _wire_refs(cols: list[Collection], plan: Plan) -> None:
    """Arguments named `<thing>_id` that point at another collection's records (checked for existence)."""
    by_name = {f"{c.singular}_id": c for c in cols}
    for param in plan.op.params:
        if param.location not in ("body", "query") or param.name in plan.id_args or param.name == plan.target_arg:
            continue
        col = by_name.get(names.snake(param.original))
        kind = schemas.main_type(schemas.resolve(param.json_schema))
        if col is None or col is plan.collection or kind != col.id_type:
            continue
        plan.refs[param.name] = col


def _wire_limit(plan: Plan) -> None:
    for param in plan.op.params:
        if names.snake(param.original) in LIMIT_NAMES and schemas.main_type(param.json_schema) == "integer":
            plan.limit_arg = param.name
            return


def build_records(root: dict[str, Any], cols: list[Collection], plans: list[Plan]) -> None:
    """Fill each collection's record schema and each plan's body/filter/pagination wiring.

    `root` resolves the API's `$ref`s (resources.discover returns it with the collections and plans).
    """
    ordered = parents_first(cols)
    for each in ordered:
        _setup_collection(root, each, plans)
    for plan in plans:
        _wire_refs(ordered, plan)
        if plan.kind != "list":
            _wire_limit(plan)
        col = plan.collection
        if col is None:
            continue
        if plan.kind in ("create", "update", "replace"):
            _widen_with_body(col, plan, root)
            col.writable = True
            if plan.body_target and plan.target_arg is None:
                plan.kind, plan.collection = "write", None
        elif plan.kind == "list":
            _wire_list(col, plan)
            col.list_tool = col.list_tool or plan.tool
        elif plan.kind == "action":
            _wire_action(col, plan)
            col.writable = True
        elif plan.kind == "get":
            col.get_tool = col.get_tool or plan.tool
        elif plan.kind == "delete":
            col.writable = True
