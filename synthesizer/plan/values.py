"""Plausible argument values from a JSON Schema, seeded: one coherent situation per call.

Every value that must agree with another comes from the call's `Situation` (one place for all address and locale
parameters, one person per object, times from one anchor relative to the State's clock); other strings come from
the schema (enum, examples, default, pattern, the values its description spells out), then from a table for the
parameter's meaning, then from a phrase of its own words. Same rng, same values."""

from __future__ import annotations

import copy
import random
import re
from typing import Any

from synthesizer.plan.known import Known
from synthesizer.plan.meaning import (
    ADDRESS,
    PERSON,
    PLACE_KINDS,
    SITUATED,
    TIME,
    Param,
    address_role,
    is_address_group,
    kind_of,
    skip_optional,
)
from synthesizer.plan.schema import is_id_like, main_type, properties, required, resolve
from synthesizer.plan.situation import BASE_DAY, Situation, fmt_datetime
from synthesizer.plan.texts import text_for

__all__ = ["BASE_DAY", "Known", "Situation", "fill_arguments", "fmt_datetime", "from_pattern", "value_for"]

SKIP_OPTIONAL = ("cursor", "next_cursor", "page_token", "offset", "page")
OPTIONAL_P = 0.15
CORE_OPTIONAL_P = 0.35  # a write's optional title, notes, time or attendee: what a user would say
OBJECT_OPTIONAL_P = 0.3
EXAMPLE_P = 0.75
LOOKUP_EXAMPLE_P = 0.95
FREE_TEXT_EXAMPLE_P = 0.35  # a creation's title or notes: the schema's example only now and then
UPDATE_VERBS = ("update", "edit", "modify", "change", "set", "rename", "patch")
PAIRS = (("start", "end"), ("check_in", "check_out"), ("checkin", "checkout"), ("depart", "return"),
         ("from", "to"), ("since", "until"), ("begin", "finish"))
FREE_TEXT = frozenset({"title", "name", "text", "html", "label", "location"})
CORE = frozenset({"title", "name", "text", "person", "email", "datetime", "date", "location", "street", "city",
                  "region", "postal", "country", "first_name", "last_name", "phone"})
MAIN_ADDRESS = frozenset({"street", "city", "region", "postal", "country"})
KNOWN_P = 0.85


def _matches(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return True


PIECE = re.compile(r"\\d|\[[^\]]+\]|\\.|[^\\\[\](){}?*+^$|]")
CLASSES = {"\\d": "0123456789"}


def _class_chars(token: str) -> str:
    if token in CLASSES:
        return CLASSES[token]
    if token.startswith("["):
        body, chars, i = token[1:-1], "", 0
        while i < len(body):
            if i + 2 < len(body) and body[i + 1] == "-":
                chars += "".join(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
                i += 3
            else:
                chars += body[i]
                i += 1
        return chars
    return token[-1]


def from_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string for simple anchored patterns (`^[A-Z]{3}$`, `^[0-9]{5}(-[0-9]{4})?$` -> first branch only)."""
    body = re.sub(r"\([^)]*\)\?", "", pattern).strip("^$")
    out = []
    i = 0
    while i < len(body):
        m = PIECE.match(body, i)
        if not m:
            return None
        chars = _class_chars(m.group(0))
        i = m.end()
        count = 1
        q = re.match(r"\{(\d+)(?:,(\d*))?\}", body[i:])
        if q:
            count = int(q.group(1)) or 1
            i += q.end()
        elif i < len(body) and body[i] in "+*?":
            count = 1
            i += 1
        out.append("".join(rng.choice(chars) for _ in range(count)))
    value = "".join(out)
    return value if _matches(pattern, value) else None


def _fit_length(value: str, s: dict[str, Any], rng: random.Random) -> str:
    lo, hi = s.get("minLength"), s.get("maxLength")
    if isinstance(hi, int) and len(value) > hi:
        cut = value[:hi]
        value = cut.rsplit(" ", 1)[0] if " " in cut and len(cut.rsplit(" ", 1)[0]) >= max(lo or 1, 1) else cut
    if isinstance(lo, int) and len(value) < lo:
        value = value + "".join(rng.choice("0123456789") for _ in range(lo - len(value)))
    return value


def _keys(path: tuple[str, ...]) -> tuple[str, ...]:
    """Argument keys of a path, array positions (`passengers[0]` -> `passengers`) dropped."""
    return tuple(k.split("[", 1)[0] for k in path)


def _examples(s: dict[str, Any]) -> list[Any]:
    listed = s.get("examples")
    return list(listed) if isinstance(listed, list) else ([s["example"]] if "example" in s else [])


def _stringish(s: dict[str, Any]) -> bool:
    return main_type(s) in ("string", None) and "properties" not in s


def _render_time(kind: str, p: Param, sit: Situation) -> str:
    moment = sit.moment(_keys(p.path), p.name, dated=kind == "date")
    if kind == "date":
        return moment.date().isoformat()
    if kind == "time":
        return moment.strftime("%H:%M:%S" if "ss" in p.desc.lower() else "%H:%M")
    if kind == "epoch":
        scale = 10 ** 9 if "nano" in p.snake else 1000 if re.search(r"milli|(^|_)ms$", p.snake) else 1
        return str(int(moment.timestamp()) * scale)
    return fmt_datetime(moment)


def _situated(kind: str, p: Param, sit: Situation, slot: tuple[str, ...]) -> str | None:
    if kind in PERSON:
        return sit.person_value(kind, slot, p)
    if kind in PLACE_KINDS:
        return sit.place_value(kind, p)
    if kind in TIME:
        return _render_time(kind, p, sit)
    return None


def _string(p: Param, kind: str | None, sit: Situation, slot: tuple[str, ...], example_p: float,
            rng: random.Random) -> str:
    s = p.schema
    examples = [e for e in _examples(s) if isinstance(e, str)]
    pattern = s.get("pattern") if isinstance(s.get("pattern"), str) else None
    if kind in SITUATED:
        state_people = sit.world is not None and bool(sit.world.people) and kind in PERSON
        if sit.lookup and examples and not state_people and not (kind in ADDRESS and p.in_address) and (
                rng.random() < example_p):
            return rng.choice(examples)  # a lookup names something the scenario holds
        value = _situated(kind, p, sit, slot)
        if value is not None and (pattern is None or _matches(pattern, value)):
            return _fit_length(value, s, rng)
    if kind in FREE_TEXT and not sit.lookup:
        example_p = min(example_p, FREE_TEXT_EXAMPLE_P)
    if examples and (rng.random() < example_p or pattern is not None):
        return rng.choice(examples)
    default = s.get("default")
    if isinstance(default, str) and default.strip() and rng.random() < 0.5:
        return default
    terms = sit.world.terms() if kind == "query" and sit.lookup and sit.world is not None else None
    value = _fit_length(text_for(kind, p, sit.tool_tokens, rng, terms), s, rng)
    if pattern is not None and not _matches(pattern, value):
        value = from_pattern(pattern, rng) or value
    return value


def _number(p: Param, sit: Situation, slot: tuple[str, ...], rng: random.Random, integer: bool) -> int | float:
    s, low = p.schema, p.snake
    lo = s.get("minimum")
    if lo is None and "exclusiveMinimum" in s:
        lo = s["exclusiveMinimum"] + (1 if integer else 0.01)
    hi = s.get("maximum")
    if hi is None and "exclusiveMaximum" in s:
        hi = s["exclusiveMaximum"] - (1 if integer else 0.01)

    def bounded(v: float) -> float:
        return min(max(v, lo if lo is not None else v), hi if hi is not None else v)

    if re.search(r"(^|_)(lat|latitude|lng|lon|long|longitude)$", low) and not integer:
        return bounded(sit.coordinates(p))
    if low in ("year", "month", "day", "hour", "minute"):
        words = " ".join(_keys(p.path)).lower()
        if re.search(r"birth|dob|born", words):
            d = sit.birth(slot)
            return int(bounded({"year": d.year, "month": d.month, "day": d.day}.get(low, 0)))
        m = sit.moment(_keys(p.path), p.name, dated=True)
        return int(bounded(getattr(m, low)))
    if re.search(r"(millis|nanos|(^|_)ms$|epoch|timestamp)", low) and "duration" not in low:
        moment = sit.moment(_keys(p.path), p.name)
        scale = 10 ** 9 if "nano" in low else 1000 if re.search(r"milli|(^|_)ms$", low) else 1
        return int(moment.timestamp()) * scale
    if re.search(r"duration|minutes|length_min", low):
        options = [m for m in (15, 30, 45, 60, 90) if (lo is None or m >= lo) and (hi is None or m <= hi)]
        if options:
            minutes = rng.choice(options)
            return minutes * (60000 if "millis" in low else 1)
    if re.search(r"(^|_)nights$", low):
        return int(bounded(rng.randint(1, 7)))
    if re.search(r"(quantity|qty|count|guests|passengers|people|party_size|seats|rooms|adults)", low):
        span = (1, 3)
    elif low in ("limit", "page_size", "max_results", "per_page"):
        span = (5, 20)
    elif re.search(r"(cents|price|amount|cost|total|budget)", low):
        span = (500, 20000) if "cents" in low else (5, 200)
    elif re.search(r"(rating|stars|priority)", low):
        span = (1, 5)
    elif re.search(r"(percent|discount)", low):
        span = (5, 30)
    elif low == "age":
        span = (18, 70)
    else:
        span = (1, 10)
    a = lo if lo is not None else span[0]
    b = hi if hi is not None else max(a, span[1])
    a, b = min(a, b), max(a, b)
    if integer:
        return rng.randint(int(a), int(min(b, a + max(span[1] - span[0], 9))))
    return round(rng.uniform(float(a), float(min(b, a + 100))), 2)


def _peopleish(item: dict[str, Any], name: str, sit: Situation) -> bool:
    """A list whose elements are people (passengers, attendees, recipients' emails)."""
    if _stringish(item):
        return kind_of(Param(name, item), sit.tool_tokens) in ("email", "person")
    return any(kind_of(Param(k, v, (name,)), sit.tool_tokens) in ("person", "first_name", "email")
               for k, v in properties(item).items())


def _array(name: str, s: dict[str, Any], rng: random.Random, root: dict[str, Any] | None, depth: int,
           example_p: float, sit: Situation, path: tuple[str, ...]) -> list[Any]:
    item = resolve(s.get("items", {}), root)
    if _stringish(item) and not item.get("description"):
        item = {**item, "description": s.get("description", "")}
    n = max(int(s.get("minItems", 1) or 1), 1)
    if not sit.lookup and _peopleish(item, name, sit):
        top = s["maxItems"] if isinstance(s.get("maxItems"), int) else 3
        n = max(n, min(rng.choice((1, 1, 2, 3)), int(top)))
    out: list[Any] = []
    for i in range(n):
        value = value_for(name, item, rng, root, depth + 1, example_p, situation=sit, path=(*path, f"{name}[{i}]"))
        for _ in range(5):  # list members differ (two attendees, two tags)
            if value not in out:
                break
            value = value_for(name, item, rng, root, depth + 1, example_p, situation=sit,
                              path=(*path, f"{name}[{i}]"))
        out.append(value)
    return out


def _object(name: str, s: dict[str, Any], rng: random.Random, root: dict[str, Any] | None, depth: int,
            example_p: float, sit: Situation, path: tuple[str, ...]) -> dict[str, Any]:
    """Nested records: required fields, a whole address, a person's name and email, and a few optional others."""
    inner = path if path and path[-1].startswith(name + "[") else (*path, name)
    props = properties(s)
    req = set(required(s))
    group = is_address_group(list(props))
    snakes = {Param(k, {}).snake: k for k in props}
    timed = "date_time" in snakes and "date" in snakes  # {date, dateTime}: an all-day or a timed moment, not both
    kinds = {k: kind_of(Param(k, resolve(v, root), _keys(inner), group), sit.tool_tokens)
             if _stringish(resolve(v, root)) else None for k, v in props.items()}
    personal = any(kinds[k] in ("person", "first_name") for k in props)
    chosen: list[str] = []
    for k, raw in props.items():
        rs = resolve(raw, root)
        kind = kinds[k]
        if k in req:
            chosen.append(k)
        elif is_id_like(k, rs) or skip_optional(Param(k, rs), kind) or (timed and k == snakes["date"]):
            continue
        elif (group and kind in MAIN_ADDRESS) or (timed and k == snakes["date_time"]) or (
                personal and kind in ("person", "first_name", "last_name")) or (
                personal and kind == "email" and rng.random() < 0.8):
            chosen.append(k)
        elif rng.random() < (OBJECT_OPTIONAL_P if kind in CORE else OPTIONAL_P):
            chosen.append(k)
    if not chosen:  # an empty object says nothing: take its most telling optional member
        usable = [k for k, v in props.items() if not is_id_like(k, resolve(v, root))
                  and not skip_optional(Param(k, resolve(v, root)), kinds[k])]
        core = [k for k in usable if kinds[k] in CORE]
        if core or usable:
            chosen.append((core or usable)[0])
    return {k: value_for(k, props[k], rng, root, depth + 1, example_p, situation=sit, path=inner, in_address=group)
            for k in props if k in chosen}


def value_for(name: str, schema: Any, rng: random.Random, root: dict[str, Any] | None = None, depth: int = 0,
              example_p: float = EXAMPLE_P, *, situation: Situation | None = None, path: tuple[str, ...] = (),
              in_address: bool = False) -> Any:
    """A value the schema accepts, agreeing with the call's situation (a fresh one when none is given).

    `path`: the argument keys enclosing this one (array members as `name[i]`); `in_address`: a sibling of other
    address parts."""
    s = resolve(schema, root)
    root = root or (schema if isinstance(schema, dict) else None)
    sit = situation if situation is not None else Situation(rng, root=root)
    if "const" in s:
        return copy.deepcopy(s["const"])
    slot = path[:-1] if path and path[-1].startswith(name + "[") and not _stringish(s) else path
    p = Param(name, s, _keys(path[:-1] if path and path[-1].startswith(name + "[") else path), in_address)
    typ = main_type(s) or "string"
    kind = kind_of(p, sit.tool_tokens) if typ == "string" else None
    if isinstance(s.get("enum"), list) and s["enum"]:
        if kind in PLACE_KINDS and (value := sit.place_value(kind, p)) is not None:
            return value  # a currency or country enum: the call's own, when the enum has it
        return copy.deepcopy(rng.choice(s["enum"]))
    examples = _examples(s)
    if typ == "string":
        return _string(p, kind, sit, slot, example_p, rng)
    if examples and rng.random() < example_p and typ not in ("array", "object"):
        return copy.deepcopy(rng.choice(examples))
    if "default" in s and s["default"] is not None and typ not in ("array", "object") and rng.random() < 0.5:
        return copy.deepcopy(s["default"])
    if typ in ("integer", "number"):
        return _number(p, sit, slot, rng, typ == "integer")
    if typ == "boolean":
        return rng.random() < 0.5
    if typ in ("array", "object") and examples and sit.lookup and rng.random() < example_p:
        return copy.deepcopy(rng.choice(examples))  # a lookup's structured filter: the schema's own
    if typ == "array" and depth < 4:
        return _array(name, s, rng, root, depth, example_p, sit, path)
    if typ == "object" and depth < 4:
        return _object(name, s, rng, root, depth, example_p, sit, path)
    return copy.deepcopy(examples[0]) if examples else None


def _order_pairs(args: dict[str, Any], fed: dict[str, Any], sit: Situation) -> None:
    """An end-like value follows its start-like partner: a generated end after a fed start, and any end that is
    not after its start (a lookup's two examples, say) moved after it."""
    for a, b in PAIRS:
        for ka in [k for k in args if k.lower().startswith(a) or k.lower().endswith("_" + a)]:
            kb = next((k for k in args if k.lower() == ka.lower().replace(a, b, 1)), None)
            if kb is None or kb in fed or not isinstance(args[ka], str) or not isinstance(args[kb], str):
                continue
            va, vb = args[ka], args[kb]
            if len(va) != len(vb) and not (len(va) > 10 and len(vb) > 10):
                continue
            if ka in fed or vb <= va:
                end = sit.end_after(va, (), kb)
                if end is not None:
                    args[kb] = end


def _accepts(schema: dict[str, Any], value: Any) -> bool:
    typ = main_type(schema)
    if typ == "string":
        ok = isinstance(value, str) and 0 < len(value) <= 200
        return ok and (not isinstance(schema.get("enum"), list) or value in schema["enum"]) and (
            not isinstance(schema.get("pattern"), str) or _matches(schema["pattern"], value))
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return False


def _optional_p(kind: str | None, read_only: bool) -> float:
    return CORE_OPTIONAL_P if kind in CORE and not read_only else OPTIONAL_P


def fill_arguments(input_schema: dict[str, Any], fed: dict[str, Any], rng: random.Random,
                   tool_name: str = "", read_only: bool = False, known: Known | None = None, *,
                   world: Known | None = None) -> dict[str, Any]:
    """Arguments in schema property order: fed values, generated required values, a few optional ones.

    `known`: the State's values a lookup may state (None for creations: a new thing names nothing existing);
    `world`: the State the call happens in (its clock, its people's email domain), `known` when not given.
    Lookups (read-only tools) nearly always use the State's or the schema's values: they must name something that
    exists. An update-like tool always gets at least one optional field (else it has nothing to change); a write's
    address is whole (street, city, region, postal code and country from one place)."""
    example_p = LOOKUP_EXAMPLE_P if read_only else EXAMPLE_P
    sit = Situation(rng, world=world if world is not None else known, tool=tool_name, lookup=read_only,
                    root=input_schema)
    props = properties(input_schema)
    req = set(required(input_schema))
    group = is_address_group(list(props))
    together: dict[str, Any] = {}
    if known is not None and read_only and rng.random() < KNOWN_P:  # a search for something that exists
        stated = [n for n in props if n in req and n not in fed and not is_id_like(n, resolve(props[n], input_schema))]
        together = {k: v for k, v in (known.record_for(stated, rng) or {}).items()
                    if _accepts(resolve(props[k], input_schema), v)}
    pools = known.values if known is not None else {}

    def generate(name: str) -> Any:
        return value_for(name, props[name], rng, input_schema, example_p=example_p, situation=sit, in_address=group)

    args: dict[str, Any] = {}
    optional: list[str] = []
    kinds: dict[str, str | None] = {}
    for name, raw in props.items():
        if name in fed:
            args[name] = fed[name]
            continue
        s = resolve(raw, input_schema)
        if is_id_like(name, s):
            continue
        p = Param(name, s, (), group)
        kind = kinds[name] = kind_of(p, sit.tool_tokens) if _stringish(s) else None
        pool = [v for v in pools.get(name.lower(), []) if _accepts(s, v)]
        if name in req:
            if name in together:
                args[name] = together[name]
                continue
            if pool and rng.random() < KNOWN_P:  # a value the State holds: a lookup that finds something
                args[name] = rng.choice(pool)
                continue
            value = generate(name)
            for _ in range(8):  # two parameters drawn from one pool (origin, destination) should differ
                if not isinstance(value, str) or value not in args.values():
                    break
                value = generate(name)
            args[name] = value
        elif name.lower() not in SKIP_OPTIONAL and name.lower() != "limit" and not skip_optional(p, kind):
            optional.append(name)
            if rng.random() < _optional_p(kind, read_only):
                args[name] = rng.choice(pool) if read_only and pool and rng.random() < KNOWN_P else generate(name)
    if group and not read_only and any(address_role(k) for k in args if k not in fed):
        for name in optional:  # a write's address is whole
            if name not in args and kinds.get(name) in MAIN_ADDRESS:
                args[name] = generate(name)
    if not read_only:
        for a, b in PAIRS[:3]:  # a start without its end (or the reverse) is half a time
            for k in list(args):
                if k in fed:
                    continue
                partner = k.replace(a, b, 1) if a in k else k.replace(b, a, 1) if b in k else None
                if partner and partner in optional and partner not in args:
                    args[partner] = generate(partner)
    if tool_name.lower().startswith(UPDATE_VERBS) and optional and not any(o in args for o in optional):
        core = [o for o in optional if kinds.get(o) in CORE]
        pick = rng.choice(core or optional)
        args[pick] = generate(pick)
    args = {k: args[k] for k in props if k in args} | {k: v for k, v in args.items() if k not in props}
    _order_pairs(args, fed, sit)
    return args

