"""Infer collections (records keyed by id, parents, record schemas) from paths and classify every operation.

An operation becomes one of: `list`, `get`, `create`, `update` (merge), `replace`, `delete`, `action` (a named
verb on one record, such as cancel or send, that may move a status field), `read` (a read with no collection
semantics: returns a fixed, schema-valid sample) or `write` (a write with no collection semantics: recorded in the
State's `actions` log). Nothing is dropped: an operation the heuristics cannot place still gets an honest kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from servers.factory.apimodel import ApiModel, Operation, Param
from servers.factory.generators.offline import names, schemas

Kind = Literal["list", "get", "create", "update", "replace", "delete", "action", "read", "write"]
# What a method does to the one record a path ends at (POST on a record updates it; anything else reads).
KIND_OF_METHOD_ON_ONE: dict[str, Kind] = {"get": "get", "put": "replace", "patch": "update", "delete": "delete",
                                          "post": "update"}

VERSION = re.compile(r"^v\d+[a-z0-9_.]*$")
SELF_WORDS = {"me", "@me", "self", "current", "my"}
DELETE_WORDS = {"delete", "destroy", "remove", "trash", "gdpr", "permanently", "purge"}
UPDATE_WORDS = {"update", "edit", "modify", "patch"}
CREATE_WORDS = {"create", "add", "new", "insert", "import", "post"}
LIST_WORDS = {"find", "search", "list", "query", "filter", "browse", "lookup"}
LIMIT_NAMES = {"limit", "max_results", "page_size", "per_page", "count", "max", "size", "top", "max_items"}
CURSOR_NAMES = {"page_token", "cursor", "next_token", "after", "starting_after", "continuation_token", "offset",
                "start", "page", "next_page_token", "sync_token", "start_index", "skip"}
NAME_FIELDS = ("name", "title", "display_name", "displayname", "summary", "subject", "label", "full_name",
               "username", "email", "description")
STATUS_FIELDS = ("status", "state", "ride_status", "lifecycle_state")
VERB_STATUS = {
    "cancel": ("cancelled", "canceled", "cancel"), "archive": ("archived",), "unarchive": ("active", "unarchived"),
    "close": ("closed",), "complete": ("completed", "complete", "done"), "publish": ("published",),
    "activate": ("active", "activated", "enabled"), "deactivate": ("inactive", "deactivated", "disabled"),
    "approve": ("approved",), "reject": ("rejected",), "send": ("sent",), "share": ("sent", "shared", "published"),
    "retry": ("queued", "retried", "pending"), "bypass": ("bypassed",), "accept": ("accepted",),
    "decline": ("declined",), "confirm": ("confirmed",), "ship": ("shipped",), "pay": ("paid",),
    "refund": ("refunded",), "open": ("open", "opened"), "start": ("started", "in_progress", "active"),
    "stop": ("stopped", "ended"), "pause": ("paused",), "resume": ("active", "resumed"), "block": ("blocked",),
}
CREATED_FIELDS = ("created", "created_at", "creation_time", "create_time", "date_created", "created_time",
                  "inserted_at", "created_date", "requested_at", "timestamp")
UPDATED_FIELDS = ("updated", "updated_at", "update_time", "modified", "last_modified", "modified_at",
                  "last_updated", "updated_time", "modified_date")


@dataclass
class Collection:
    """Records of one kind, keyed by id, optionally owned by a parent record."""

    key: str
    singular: str
    segment: str
    prefix: str = ""
    id_field: str = "id"
    id_type: str = "string"
    name_prefix: str = ""
    id_style: str = "mint"
    id_enum: list[str] = field(default_factory=list)
    id_width: int = 0
    parent: Collection | None = None
    parent_field: str | None = None
    schema: dict[str, Any] = field(default_factory=dict)
    raw_schema: dict[str, Any] = field(default_factory=dict)
    name_field: str | None = None
    status_field: str | None = None
    statuses: list[str] = field(default_factory=list)
    created_field: str | None = None
    updated_field: str | None = None
    list_tool: str | None = None
    get_tool: str | None = None
    writable: bool = False

    @property
    def words(self) -> str:
        return names.words(self.singular)

    def chain(self) -> list[Collection]:
        out: list[Collection] = []
        node: Collection | None = self
        while node is not None:
            out.insert(0, node)
            node = node.parent
        return out


@dataclass
class Plan:
    """How one operation is implemented."""

    op: Operation
    kind: Kind
    collection: Collection | None = None
    id_args: dict[str, Collection] = field(default_factory=dict)
    target_arg: str | None = None
    parent_arg: str | None = None
    body: dict[str, str] = field(default_factory=dict)
    filters: dict[str, str] = field(default_factory=dict)
    search_arg: str | None = None
    ids_arg: str | None = None
    limit_arg: str | None = None
    cursor_arg: str | None = None
    cursor_kind: str = "token"
    verb: str = ""
    target_status: str | None = None
    from_statuses: list[str] = field(default_factory=list)
    body_target: bool = False
    refs: dict[str, Collection] = field(default_factory=dict)

    @property
    def tool(self) -> str:
        return self.op.tool

    @property
    def read_only(self) -> bool:
        return bool(self.op.annotations.read_only_hint)


@dataclass
class Parsed:
    pairs: list[tuple[str, str]]
    tail: list[str]
    verb: str
    bare: list[str]
    qualified: bool


def parse_path(path: str) -> Parsed:
    """Split a path into (literal, {param}) pairs, trailing literals and a `:verb`."""
    path = re.sub(r"\{mediaTypeExtension\}|\.json$|\.xml$", "", path)
    verb = ""
    segments = [s for s in path.strip("/").split("/") if s]
    if segments and ":" in segments[-1]:
        segments[-1], verb = segments[-1].split(":", 1)
    pairs: list[tuple[str, str]] = []
    bare: list[str] = []
    pending: list[str] = []
    qualified = False
    for seg in segments:
        if seg.startswith("{") and seg.endswith("}"):
            param = seg[1:-1]
            if pending:
                pairs.append((pending[-1], param))
                pending = []
            else:
                bare.append(param)
                pairs.append(("", param))
        elif VERSION.match(seg) or not seg:
            continue
        elif seg.lower() in SELF_WORDS:
            qualified = True
            if pending:
                pending.pop()
        else:
            pending.append(seg)
    return Parsed(pairs=pairs, tail=pending, verb=verb, bare=bare, qualified=qualified)


def _op_hint(op: Operation) -> list[str]:
    """Collection-like words from the operation id ("keep.notes.get" -> ["notes"])."""
    if not op.operation_id:
        return []
    parts = [p for p in re.split(r"[./]", op.operation_id) if p]
    return [names.snake(p) for p in reversed(parts[1:-1])]


def _param(op: Operation, original: str, location: str | None = None) -> Param | None:
    for p in op.params:
        if p.original == original and (location is None or p.location == location):
            return p
    return None


def _object_schema(schema: dict[str, Any] | None, root: dict[str, Any]) -> dict[str, Any] | None:
    schema = schemas.resolve(schema or {}, root)
    return schema if schemas.object_properties(schema, root) else None


def _list_items(schema: dict[str, Any] | None, root: dict[str, Any], segment: str) -> tuple[str | None, dict | None]:
    """(array property or None for a bare array, item schema) of a list response, or (None, None)."""
    schema = schemas.resolve(schema or {}, root)
    if schemas.main_type(schema) == "array":
        item = _object_schema(schema.get("items"), root)
        return None, item
    props = schemas.object_properties(schema, root)
    arrays = {k: schemas.resolve(v.get("items"), root) for k, v in props.items()
              if schemas.main_type(v) == "array" and schemas.object_properties(v.get("items") or {}, root)}
    if not arrays:
        return None, None
    for prefer in ("items", "data", "results", "records", "values", segment, names.snake(segment)):
        if prefer in arrays:
            return prefer, arrays[prefer]
    key = sorted(arrays)[0]
    return key, arrays[key]


class Inference:
    """Walks the operations once to find collections, then classifies each operation."""

    def __init__(self, api: ApiModel):
        self.api = api
        self.root: dict[str, Any] = {"components": {"schemas": api.schemas}, "definitions": api.schemas,
                                     "$defs": api.schemas}
        self.collections: dict[str, Collection] = {}
        self.prefixes: set[str] = {"act"}
        self.item_literals: dict[str, bool] = {}

    # -- collections ---------------------------------------------------------------------------------------
    def _collection(self, segment: str, parent: Collection | None, qualified: bool = False) -> Collection:
        base = names.snake(segment)
        key = names.plural(names.singular(base))
        if qualified and not self.item_literals.get(segment, False) and key in self.collections:
            key = "my_" + key
        existing = self.collections.get(key)
        if existing is not None:
            if existing.parent is None and parent is not None and parent is not existing:
                existing.parent = parent
            return existing
        col = Collection(key=key, singular=names.singular(key), segment=segment, parent=parent)
        col.prefix = names.prefix(key, self.prefixes)
        self.collections[key] = col
        return col

    def _resolve_bare(self, op: Operation) -> Collection | None:
        for hint in _op_hint(op):
            key = names.plural(names.singular(hint))
            if key in self.collections:
                return self.collections[key]
        return None

    def discover(self) -> None:
        ops = [o for o in self.api.operations if o.path]
        for op in ops:
            parsed = parse_path(op.path or "")
            for lit, _ in parsed.pairs:
                if lit:
                    self.item_literals[lit] = self.item_literals.get(lit, False) or parsed.qualified
        for op in ops:  # named collections: "literal/{param}" pairs
            parent = None
            for lit, _param_name in parse_path(op.path or "").pairs:
                if lit:
                    parent = self._collection(lit, parent)
        for op in ops:  # collections known only from list/create paths and google-style `:verb`s
            parsed = parse_path(op.path or "")
            if parsed.tail and op.method in ("get", "post") and not parsed.verb:
                last = parsed.tail[-1]
                if names.snake(last).split("_")[0] in LIST_WORDS | CREATE_WORDS:
                    continue
                if op.method == "get" and _list_items(op.response_schema, self.root, last)[1] is None:
                    continue
                if op.method == "post" and _object_schema(op.body_schema, self.root) is None:
                    continue
                parent = self._parent_from_pairs(parsed, op)
                self._collection(last, parent, parsed.qualified)
            elif parsed.tail and parsed.verb and not parsed.pairs:
                self._collection(parsed.tail[-1], None)
        for col in self.collections.values():
            if col.parent is col:
                col.parent = None

    def _parent_from_pairs(self, parsed: Parsed, op: Operation) -> Collection | None:
        if not parsed.pairs:
            return None
        lit, _ = parsed.pairs[-1]
        if lit:
            key = names.plural(names.singular(names.snake(lit)))
            return self.collections.get(key)
        return self._resolve_bare(op)

    # -- classification ------------------------------------------------------------------------------------
    def classify(self, op: Operation) -> Plan:
        if not op.path or not op.method:
            return Plan(op=op, kind="read" if op.annotations.read_only_hint else "write")
        parsed = parse_path(op.path)
        id_args: dict[str, Collection] = {}
        for lit, param in parsed.pairs:
            if lit:
                col = self.collections.get(names.plural(names.singular(names.snake(lit))))
            else:
                col = self._resolve_bare(op)
            p = _param(op, param, "path")
            if col is not None and p is not None:
                id_args[p.name] = col
        plan = Plan(op=op, kind="read" if op.method == "get" else "write", id_args=id_args)
        method = op.method
        verb_words = names.snake(parsed.verb).split("_") if parsed.verb else []
        ends_with_param = not parsed.tail and parsed.pairs and not parsed.verb
        if ends_with_param and id_args:
            last = list(id_args)[-1]
            col = id_args[last]
            plan.collection, plan.target_arg = col, last
            plan.kind = KIND_OF_METHOD_ON_ONE.get(method, "read")
            if method == "post" and _object_schema(op.body_schema, self.root) is None:
                plan.kind = "write"
            return plan
        words = verb_words or (names.snake(parsed.tail[-1]).split("_") if parsed.tail else [])
        item_scope = bool(parsed.pairs) and (len(parsed.tail) <= 1 or parsed.verb != "")
        if parsed.verb and parsed.tail:
            item_scope = False  # google "collection:verb"
        if item_scope and id_args and (parsed.tail or parsed.verb):
            last = list(id_args)[-1]
            col = id_args[last]
            tail_col = self.collections.get(names.plural(names.singular(names.snake(parsed.tail[-1])))) \
                if parsed.tail else None
            if tail_col is not None and tail_col is not col and not parsed.verb and \
                    method in ("get", "post"):
                return self._collection_plan(plan, tail_col, method, last, col, [])
            plan.collection, plan.target_arg = col, last
            plan.verb = "_".join(words)
            other = [w for w in words if w not in DELETE_WORDS and w not in col.singular.split("_")
                     and w not in ("contact", "file", "item")]
            if set(words) & DELETE_WORDS and not other and method in ("delete", "post"):
                plan.kind = "delete"
            elif set(words) & UPDATE_WORDS and len(words) <= 2 and method in ("post", "put", "patch") and \
                    _object_schema(op.body_schema, self.root) is not None and "photo" not in words:
                plan.kind = "update"
            elif method == "get":
                plan.kind = "read"
            else:
                plan.kind = "action"
            return plan
        if parsed.tail or parsed.verb:
            segment = parsed.tail[-1] if parsed.tail else ""
            first = words[0] if words else ""
            lead = parsed.tail[-2] if len(parsed.tail) >= 2 else None
            is_verbish = first in LIST_WORDS | CREATE_WORDS or parsed.verb != ""
            target_seg = (segment if not is_verbish or parsed.verb else lead) or ""
            key = names.plural(names.singular(names.snake(target_seg))) if target_seg else ""
            if parsed.qualified and not self.item_literals.get(target_seg, False) and "my_" + key in \
                    self.collections:
                key = "my_" + key
            col = self.collections.get(key)
            if col is None and parsed.verb and parsed.tail:
                col = self.collections.get(names.plural(names.singular(names.snake(parsed.tail[-1]))))
            parent_arg = list(id_args)[-1] if id_args else None
            parent = id_args.get(parent_arg) if parent_arg else None
            if col is not None:
                if parent is not None and parent is col:
                    parent, parent_arg = None, None
                verbs = words if is_verbish else []
                return self._collection_plan(plan, col, method, parent_arg, parent, verbs)
        return plan

    def _collection_plan(self, plan: Plan, col: Collection, method: str, parent_arg: str | None,
                         parent: Collection | None, verbs: list[str]) -> Plan:
        op = plan.op
        plan.collection = col
        if parent is not None and col.parent is parent:
            plan.parent_arg = parent_arg
        elif parent is not None:
            plan.collection = None
            return plan
        first = verbs[0] if verbs else ""
        if method == "get" and (not verbs or first in LIST_WORDS):
            prop, item = _list_items(op.response_schema, self.root, col.segment)
            plan.kind = "list" if item is not None or verbs else "read"
        elif method == "post" and (not verbs or first in CREATE_WORDS) and \
                _object_schema(op.body_schema, self.root) is not None:
            plan.kind = "create"
        elif method in ("put", "patch") and not verbs and _object_schema(op.body_schema, self.root) is not None:
            plan.kind = "update" if method == "patch" else "replace"
            plan.body_target = True
        else:
            plan.collection = col if method != "get" else None
            plan.kind = "read" if method == "get" else "write"
            plan.collection = None
        if plan.kind == "read":
            plan.collection = None
        return plan


def discover(api: ApiModel) -> tuple[dict[str, Any], list[Collection], list[Plan]]:
    """The schema root, the collections some operation uses and one plan per operation, in the API's order.

    Record schemas and argument wiring come next (records.build_records), then `parents_first` orders the
    collections; the caller runs those steps, so this module never needs records.
    """
    inf = Inference(api)
    inf.discover()
    plans = [inf.classify(op) for op in api.operations]
    used = {id(p.collection) for p in plans if p.collection is not None}
    for p in plans:
        for col in p.id_args.values():
            used.add(id(col))
    cols = [c for c in inf.collections.values() if id(c) in used]
    for col in cols:
        while col.parent is not None and id(col.parent) not in used:
            col.parent = col.parent.parent
    return inf.root, cols, plans


def parents_first(cols: list[Collection]) -> list[Collection]:
    """Every collection after its parents (each chain root first), without repeats."""
    ordered: list[Collection] = []
    for col in cols:
        for c in col.chain():
            if c not in ordered:
                ordered.append(c)
    return ordered
