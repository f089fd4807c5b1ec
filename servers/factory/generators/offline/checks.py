"""checks.json: a success check and a domain-error check per tool, every write followed by a read that shows it.

Checks are written against the `small` scenario (the generator knows its records), with `${N.path}` for minted
ids and `expect_state` for what a write must leave behind.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

from servers.factory.generators.offline import names, schemas
from servers.factory.generators.offline.data import Values, seeded
from servers.factory.generators.offline.records import format_id, is_terminal
from servers.factory.generators.offline.resources import Collection
from servers.factory.generators.offline.tools import Tool
from servers.verify.fuzz import sample_value

BLANK = "   "
SCENARIO = "small"


def _valid(schema: dict[str, Any], value: Any) -> bool:
    try:
        return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(value)
    except Exception:
        return False


def parent_ref(record: dict[str, Any], col: Collection) -> Any:
    """The value by which a record names its parent (None for a collection without a parent field)."""
    return record.get(col.parent_field) if col.parent_field else None


class CheckWriter:
    def __init__(self, env: str, tools: list[Tool], collections: list[Collection], state: dict[str, Any]):
        self.env = env
        self.tools = tools
        self.cols = collections
        self.state = state
        self.values = Values(seeded(env, "checks"))
        self.checks: list[dict[str, Any]] = []
        self.gaps: list[str] = []
        self.by_name = {t.spec.name: t for t in tools}

    # -- values ----------------------------------------------------------------------------------------------
    def value_for(self, tool: Tool, py: str) -> Any:
        schema = tool.spec.input_schema
        sub = schemas.resolve((schema.get("properties") or {}).get(py, {}))
        wrapper = {**sub}
        if py == tool.py(tool.plan.limit_arg) and _valid(wrapper, 10):
            return 10
        if py == tool.py(tool.plan.cursor_arg) and tool.plan.cursor_kind != "token" and _valid(wrapper, 0):
            return 0 if tool.plan.cursor_kind == "offset" else 1
        if py == tool.py(tool.plan.cursor_arg) and tool.plan.collection is not None:
            first = self.records(tool.plan.collection)
            if first and _valid(wrapper, first[0][tool.plan.collection.id_field]):
                return first[0][tool.plan.collection.id_field]
        for _ in range(6):
            candidate = self.values.value(sub, py)
            if _valid(wrapper, candidate):
                return candidate
        for candidate in (*(sub.get("examples") or []), sub.get("default"), sample_value(sub, schema)):
            if candidate is not None and _valid(wrapper, candidate):
                return candidate
        return sample_value(sub, schema)

    def records(self, col: Collection) -> list[dict[str, Any]]:
        return list(self.state.get(col.key, {}).values())

    def owner_chain(self, col: Collection, record: dict[str, Any]) -> dict[int, Any]:
        """id(collection) -> id value for the record and its ancestors."""
        out = {id(col): record[col.id_field]}
        node, rec = col, record
        while node.parent is not None and node.parent_field and rec is not None:
            pid = rec.get(node.parent_field)
            parent = self.state.get(node.parent.key, {}).get(str(pid))
            out[id(node.parent)] = pid
            node, rec = node.parent, parent
        return out

    def pick(self, col: Collection, avoid_status: str | None = None) -> dict[str, Any] | None:
        rows = self.records(col)
        good = [r for r in rows if not (col.status_field and (is_terminal(str(r.get(col.status_field))) or
                                                              r.get(col.status_field) == avoid_status))]
        return good[0] if good else rows[0] if rows else None

    def id_args(self, tool: Tool, chain: dict[int, Any]) -> dict[str, Any] | None:
        args: dict[str, Any] = {}
        for arg, col in tool.plan.id_args.items():
            if id(col) in chain:
                args[tool.py(arg) or arg] = chain[id(col)]
            else:
                rec = self.pick(col)
                if rec is None:
                    return None
                args[tool.py(arg) or arg] = rec[col.id_field]
        return args

    def base_args(self, tool: Tool, chain: dict[int, Any], optional_body: bool = False) -> dict[str, Any] | None:
        args = self.id_args(tool, chain)
        if args is None:
            return None
        schema = tool.spec.input_schema
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        body_py = {tool.py(a): f for a, f in tool.plan.body.items()}
        for orig, ref in tool.plan.refs.items():
            py = tool.py(orig) or orig
            rec = self.pick(ref)
            if py in required or (optional_body and py in body_py):
                if rec is None:
                    return None
                args[py] = rec[ref.id_field]
        for py in props:
            if py in args:
                continue
            if py in required:
                args[py] = self.value_for(tool, py)
                self.link_object(tool, py, args, chain)
            elif optional_body and py in body_py and len([a for a in args if a in body_py]) < 3:
                sub = schemas.resolve(props[py])
                if schemas.main_type(sub) in ("string", "integer", "boolean") or py == tool.py(
                        next((a for a, f in tool.plan.body.items() if f == self._name_field(tool)), None)):
                    args[py] = self.value_for(tool, py)
        if tool.plan.body_target and tool.plan.target_arg:
            args[tool.py(tool.plan.target_arg) or ""] = chain.get(id(tool.plan.collection))
        if not _valid(schema, args):
            for py in [p for p in list(args) if p not in required]:
                trial = {k: v for k, v in args.items() if k != py}
                if _valid(schema, trial) and (py not in body_py or not _valid(schema, args)):
                    args = trial
            if not _valid(schema, args):
                return None
        return args

    def link_object(self, tool: Tool, py: str, args: dict[str, Any], chain: dict[int, Any]) -> None:
        """An object argument named after a collection (`vault: {id}`) points at an existing record."""
        sub = schemas.resolve((tool.spec.input_schema.get("properties") or {}).get(py, {}))
        col = next((c for c in self.cols if c.singular == names.snake(py)), None)
        if col is None or schemas.main_type(sub) != "object" or "id" not in (sub.get("properties") or {}):
            return
        rid = chain.get(id(col))
        if rid is None:
            rec = self.pick(col)
            rid = rec[col.id_field] if rec else None
        if rid is not None:
            value = dict(args[py]) if isinstance(args[py], dict) else {}
            value["id"] = rid
            if _valid(sub, value):
                args[py] = value

    def _name_field(self, tool: Tool) -> str | None:
        return tool.plan.collection.name_field if tool.plan.collection else None

    def unknown_id(self, tool: Tool, py: str, col: Collection) -> Any:
        sub = schemas.resolve((tool.spec.input_schema.get("properties") or {}).get(py, {}))
        existing = {str(k) for k in self.state.get(col.key, {})}
        for cand in (format_id(col, 9999), f"{col.name_prefix}{col.prefix}_9999", 999999,
                     "00000000-0000-4000-8000-000000009999", "9999", "zz-unknown", 9999):
            if str(cand) not in existing and _valid(sub, cand):
                return cand
        return None

    # -- probe reads -----------------------------------------------------------------------------------------
    def read_after(self, col: Collection | None, chain: dict[int, Any], new_ref: str | None,
                   fields: dict[str, Any]) -> dict[str, Any] | None:
        """A read-only call that shows the write (get of the record, else its list, else any working read)."""
        if col is not None:
            for tool in self.tools:
                if tool.plan.kind == "get" and tool.plan.collection is col:
                    args = self.id_args(tool, chain)
                    if args is None:
                        continue
                    if new_ref is not None and tool.plan.target_arg:
                        args[tool.py(tool.plan.target_arg) or ""] = new_ref
                    if not _valid(tool.spec.input_schema, {k: (1 if isinstance(v, str) and v.startswith("${")
                                                               and isinstance(chain.get(id(col)), int) else v)
                                                           for k, v in args.items()}) and new_ref is None:
                        continue
                    return {"tool": tool.spec.name, "arguments": args,
                            "expect": {"output": {col.singular: fields}}}
        return self.probe()

    def probe(self) -> dict[str, Any] | None:
        for kind in ("list", "get", "read"):
            for tool in self.tools:
                if tool.plan.kind != kind:
                    continue
                col = tool.plan.collection
                rec = self.pick(col) if col is not None else None
                chain = self.owner_chain(col, rec) if col is not None and rec is not None else {}
                if kind == "list" and col is not None and col.parent is not None:
                    parent = self.pick(col.parent)
                    chain = self.owner_chain(col.parent, parent) if parent else {}
                args = self.base_args(tool, chain)
                if args is not None:
                    return {"tool": tool.spec.name, "arguments": args, "expect": {}}
        return None

    # -- checks per kind -------------------------------------------------------------------------------------
    def add(self, cid: str, description: str, calls: list[dict[str, Any] | None], scenario: str = SCENARIO,
            expect_state: dict[str, Any] | None = None) -> None:
        real = [c for c in calls if c is not None]
        check: dict[str, Any] = {"id": cid, "description": description, "scenario": scenario, "calls": real}
        if expect_state:
            check["expect_state"] = expect_state
        self.checks.append(check)

    def error(self, tool: Tool, args: dict[str, Any] | None, contains: str, cid: str, why: str) -> bool:
        if args is None or not _valid(tool.spec.input_schema, args):
            return False
        self.add(f"{tool.spec.name}_{cid}", why, [{"tool": tool.spec.name, "arguments": args,
                                                   "expect": {"is_error": True, "error_contains": contains}}])
        return True

    def sample_or_log_check(self, tool: Tool, kind: str, args: dict[str, Any]) -> None:
        """Success check of a tool with no state to derive: a fixed sample read, or a write kept in the action log."""
        name = tool.spec.name
        if kind == "read":
            self.add(f"{name}_ok", "Read the sample response.", [
                {"tool": name, "arguments": args, "expect": {"output": {"result": tool.sample}}}])
        else:
            self.add(f"{name}_ok", "The call is recorded in the action log.", [
                {"tool": name, "arguments": args, "expect": {"output": {"action": {"tool": name}}}},
                self.probe()], expect_state={"actions.0.tool": name})

    def error_checks(self, tool: Tool, ok_args: dict[str, Any] | None) -> None:
        required = tool.spec.input_schema.get("required") or []
        if not required:
            return
        plan = tool.plan
        if ok_args is not None:
            ids = list(plan.id_args.items())
            if plan.kind in ("list", "create") and plan.parent_arg:
                ids = [(a, c) for a, c in ids if a == plan.parent_arg]
            if plan.body_target and plan.target_arg and plan.collection is not None:
                ids.append((plan.target_arg, plan.collection))
            ids = [(a, c) for a, c in plan.refs.items() if (tool.py(a) or a) in ok_args] + ids
            for arg, col in reversed(ids):
                py = tool.py(arg) or arg
                bad = self.unknown_id(tool, py, col)
                if bad is not None and self.error(tool, {**ok_args, py: bad}, f"No {col.words} with id",
                                                  "unknown_" + names.snake(col.singular),
                                                  f"An unknown {col.words} id is refused with a hint."):
                    return
            props = tool.spec.input_schema.get("properties") or {}
            for py in required:
                if schemas.accepts_blank(schemas.resolve(props.get(py, {}))) and \
                        self.error(tool, {**ok_args, py: BLANK}, "must not be blank", f"blank_{py}",
                                   f"A blank {py} is refused."):
                    return
            for py in required:
                sub = schemas.resolve(props.get(py, {}))
                if schemas.main_type(sub) == "object" and all(k in (sub.get("properties") or {})
                                                               for k in ("lat", "lng")) and self.error(
                        tool, {**ok_args, py: {**ok_args[py], "lat": 123.0}}, "must be between", f"bad_{py}",
                        f"{py} with a latitude out of range."):
                    return
            for py, sub in ((p, schemas.resolve(props.get(p, {}))) for p in props):
                if sub.get("format") == "date-time" and self.error(
                        tool, {**ok_args, py: "next tuesday"}, "ISO-8601", f"bad_{py}", f"An unparsable {py}."):
                    return
                last = names.snake(py).split("_")[-1]
                if schemas.main_type(sub) == "number" and "maximum" not in sub and last in (
                        "lat", "latitude", "lng", "lon", "long", "longitude") and self.error(
                        tool, {**ok_args, py: 512.5}, "must be between", f"bad_{py}", f"{py} out of range."):
                    return
            limit, cursor = tool.py(plan.limit_arg), tool.py(plan.cursor_arg)
            if limit and self.error(tool, {**ok_args, limit: 0}, "at least 1",
                                                            "zero_limit", "A page size of 0 is refused."):
                return
            if plan.kind == "list" and cursor and plan.cursor_kind == "token" and self.error(
                    tool, {**ok_args, cursor: "zz-unknown-cursor"}, "Unknown cursor", "unknown_cursor",
                    "A cursor that no listing returned is refused."):
                return
            if plan.kind == "list" and cursor and plan.cursor_kind != "token" and self.error(
                    tool, {**ok_args, cursor: -1}, "at least 0", "negative_position", "A negative offset."):
                return
            enums: dict[str, list[str]] = {}
            for py in required:
                enum = schemas.resolve(props.get(py, {})).get("enum")
                if isinstance(enum, list) and len(enum) > 1:
                    enums.setdefault(repr(enum), []).append(py)
            for group in enums.values():
                if len(group) == 2 and self.error(tool, {**ok_args, group[1]: ok_args.get(group[0])}, "must differ",
                                                  "same_" + group[0], f"{group[0]} and {group[1]} must differ."):
                    return
        self.gaps.append(f"{tool.spec.name}: no domain error to check")

    def tool_checks(self, tool: Tool) -> None:
        plan, name = tool.plan, tool.spec.name
        col = plan.collection
        kind = plan.kind if col is not None or plan.kind in ("read", "write") else "write"
        args: dict[str, Any] | None = None
        if kind in ("get", "update", "replace", "delete", "action") or (kind in ("read", "write") and col):
            assert col is not None
            rec = self.pick(col, plan.target_status)
            if kind == "delete" and self.records(col):
                rec = self.records(col)[-1]
            if rec is None:
                self.gaps.append(f"{name}: the small scenario has no {col.words}")
                return
            chain = self.owner_chain(col, rec)
            args = self.base_args(tool, chain, optional_body=kind in ("update", "replace"))
            if args is None:
                self.gaps.append(f"{name}: cannot build valid arguments")
                return
            rid = rec[col.id_field]
            key = f"{col.key}.{rid}"
            if kind == "get":
                self.add(f"{name}_ok", f"Get an existing {col.words}.", [
                    {"tool": name, "arguments": args,
                     "expect": {"output": {col.singular: {col.id_field: rid}}}}])
            elif kind in ("update", "replace"):
                fields = self.fields_of(tool, args)
                state_exp: dict[str, Any] = {f"{key}.{f}": v for f, v in fields.items() if "." not in f and
                             isinstance(v, str | int | bool)}
                self.add(f"{name}_ok", f"Change a {col.words}; a later read shows the change.", [
                    {"tool": name, "arguments": args,
                     "expect": {"output": {col.singular: {col.id_field: rid, **fields}}}},
                    self.read_after(col, chain, None, {col.id_field: rid, **fields})], expect_state=state_exp)
            elif kind == "delete":
                after = self.list_after_delete(col, chain, rid)
                self.add(f"{name}_ok", f"Delete a {col.words}; it is gone from the listing.", [
                    {"tool": name, "arguments": args, "expect": {"output": {"deleted": True}}}, after])
            elif kind == "action":
                first: dict[str, Any] = {"tool": name, "arguments": args, "expect": {}}
                calls: list[dict[str, Any] | None] = [first]
                state_exp = {"actions.0.tool": name}
                if plan.target_status and col.status_field:
                    first["expect"] = {"output": {col.singular: {col.status_field: plan.target_status}}}
                    calls.append({"tool": name, "arguments": args,
                                  "expect": {"is_error": True, "error_contains": "already"}})
                    state_exp[f"{key}.{col.status_field}"] = plan.target_status
                calls.append(self.read_after(col, chain, None, {col.id_field: rid}))
                self.add(f"{name}_ok", f"Run {name} on a {col.words}; the change is visible.", calls,
                         expect_state=state_exp)
            else:
                self.sample_or_log_check(tool, kind, args)
        elif kind in ("list", "create"):
            assert col is not None
            chain = {}
            if plan.parent_arg and col.parent is not None:
                parents = self.records(col.parent)
                with_children = [p for p in parents if any(
                    str(parent_ref(r, col)) == str(p[col.parent.id_field]) for r in self.records(col))]
                parent = with_children[0] if with_children else parents[0] if parents else None
                if parent is None:
                    self.gaps.append(f"{name}: the small scenario has no {col.parent.words}")
                    return
                chain = self.owner_chain(col.parent, parent)
            args = self.base_args(tool, chain, optional_body=kind == "create")
            if args is None:
                self.gaps.append(f"{name}: cannot build valid arguments")
                return
            if kind == "list":
                self.add(f"{name}_ok", f"List {col.words} records.", [
                    {"tool": name, "arguments": args, "expect": self.list_expect(tool, args, chain)}])
            else:
                fields = self.fields_of(tool, args)
                new_id, counter = self.next_id(col)
                ref = f"${{0.{col.singular}.{col.id_field}}}"
                state_exp = {f"{col.key}.{new_id}.{f}": v for f, v in fields.items()
                             if "." not in f and isinstance(v, str | int | bool)}
                state_exp[f"counters.{col.prefix}"] = counter
                self.add(f"{name}_ok", f"Create a {col.words}; a later read returns it.", [
                    {"tool": name, "arguments": args, "expect": {"output": {col.singular: fields}} if fields else {}},
                    self.read_after(col, chain, ref, {col.id_field: ref, **fields})], expect_state=state_exp)
        else:
            args = self.base_args(tool, {})
            if args is None:
                self.gaps.append(f"{name}: cannot build valid arguments")
                return
            self.sample_or_log_check(tool, kind, args)
        self.error_checks(tool, args)

    def fields_of(self, tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for orig, field in tool.plan.body.items():
            py = tool.py(orig) or orig
            if py in args and args[py] is not None:
                out[field] = copy.deepcopy(args[py])
        return out

    def next_id(self, col: Collection) -> tuple[str, int]:
        n = self.state.get("counters", {}).get(col.prefix, 0) + 1
        existing = self.state.get(col.key, {})
        while True:
            key = str(format_id(col, n))
            if key not in existing:
                return key, n
            n += 1

    def list_rows(self, col: Collection, chain: dict[int, Any], drop: Any = None) -> list[dict[str, Any]]:
        rows = self.records(col)
        if col.parent is not None and id(col.parent) in chain:
            rows = [r for r in rows if str(parent_ref(r, col)) == str(chain[id(col.parent)])]
        return [r for r in rows if r[col.id_field] != drop]

    def list_expect(self, tool: Tool, args: dict[str, Any], chain: dict[int, Any]) -> dict[str, Any]:
        col = tool.plan.collection
        assert col is not None
        if set(args) - {tool.py(a) for a in tool.plan.id_args}:
            return {}  # a required filter: trust the code, check only success
        if tool.plan.parent_arg is None and col.parent is not None:
            chain = {}
        rows = self.list_rows(col, chain)[:20]
        return {"output": {col.key: [{col.id_field: r[col.id_field]} for r in rows]}}

    def list_after_delete(self, col: Collection, chain: dict[int, Any], rid: Any) -> dict[str, Any] | None:
        for tool in self.tools:
            if tool.plan.kind == "list" and tool.plan.collection is col:
                args = self.base_args(tool, chain)
                if args is None or set(args) - {tool.py(a) for a in tool.plan.id_args}:
                    continue
                scoped = chain if tool.plan.parent_arg else {}
                rows = self.list_rows(col, scoped, drop=rid)[:20]
                return {"tool": tool.spec.name, "arguments": args,
                        "expect": {"output": {col.key: [{col.id_field: r[col.id_field]} for r in rows]}}}
        return self.probe()

    def build(self) -> list[dict[str, Any]]:
        order = {"list": 0, "get": 1, "read": 2, "create": 3, "update": 4, "replace": 4, "action": 5, "write": 6,
                 "delete": 7}
        for tool in sorted(self.tools, key=lambda t: order.get(t.plan.kind, 9)):
            self.tool_checks(tool)
        return self.checks


def build_checks(env: str, tools: list[Tool], collections: list[Collection],
                 small: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The checks and the tools whose coverage could not be completed (with why)."""
    writer = CheckWriter(env, tools, collections, small)
    return writer.build(), writer.gaps
