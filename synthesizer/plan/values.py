"""Plausible argument values from a JSON Schema (examples, enum, default, bounds, formats, names), seeded."""

from __future__ import annotations

import copy
import random
import re
from datetime import date, datetime, timedelta
from typing import Any

from synthesizer.plan.schema import is_id_like, main_type, properties, required, resolve

BASE_DAY = date(2026, 3, 2)
PERSONS = ["Alex Morgan", "Priya Shah", "Diego Alvarez", "Mei Chen", "Samuel Okafor", "Laura Becker", "Yuki Tanaka"]
TITLES = ["Team sync", "Quarterly review", "Dentist appointment", "Trip planning", "Reading list", "Birthday party",
          "Project kickoff", "Weekly groceries"]
NAMES = ["Project Phoenix", "Spring Sale", "Book Club", "Family Trip", "Home Office", "Weekend Plans"]
TEXTS = ["Remember to bring the printed agenda.", "Please confirm by Friday.", "Window seat if possible.",
         "Leave the package at the front desk.", "Discuss the budget and next steps."]
CITIES = ["Paris", "Berlin", "Lisbon", "Tokyo", "New York", "Madrid", "Rome"]
WORDS = ["coffee", "blue", "travel", "weekly", "garden", "wireless"]
SKIP_OPTIONAL = ("cursor", "next_cursor", "page_token", "offset", "page")
OPTIONAL_P = 0.15
EXAMPLE_P = 0.75
LOOKUP_EXAMPLE_P = 0.95
UPDATE_VERBS = ("update", "edit", "modify", "change", "set", "rename", "patch")
PAIRS = (("start", "end"), ("check_in", "check_out"), ("checkin", "checkout"), ("depart", "return"),
         ("from", "to"), ("since", "until"), ("begin", "finish"))


def _date(rng: random.Random) -> date:
    return BASE_DAY + timedelta(days=rng.randint(0, 60))


def _datetime(rng: random.Random) -> datetime:
    d = _date(rng)
    return datetime(d.year, d.month, d.day, rng.randint(8, 17), rng.choice([0, 30]))


def fmt_datetime(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _string(name: str, s: dict[str, Any], rng: random.Random) -> str:
    fmt = s.get("format")
    low = name.lower()
    if fmt == "date" or (fmt is None and re.search(r"(^|_)(date|day)$|_on$", low)):
        return _date(rng).isoformat()
    if fmt == "date-time" or (fmt is None and re.search(r"_at$|(^|_)(datetime|time)$|^(start|end)$", low)):
        return fmt_datetime(_datetime(rng))
    if fmt == "time":
        return f"{rng.randint(8, 17):02d}:{rng.choice(['00', '30'])}"
    if fmt == "email" or "email" in low:
        first, last = rng.choice(PERSONS).lower().split()
        return f"{first}.{last}@example.com"
    if fmt in ("uri", "url") or low.endswith("url"):
        return f"https://example.com/{rng.choice(WORDS)}"
    if "phone" in low:
        return f"+1 555 01{rng.randint(10, 99)}"
    if re.search(r"(passenger|guest|customer|contact|attendee|person|traveler|traveller|full|first|last|owner)", low) \
            and ("name" in low or low in ("passenger", "guest", "customer", "attendee")):
        person = rng.choice(PERSONS)
        return person.split()[0] if "first" in low else person.split()[-1] if "last" in low else person
    if low in ("title", "subject", "summary", "headline") or low.endswith("_title"):
        return rng.choice(TITLES)
    if low == "name" or low.endswith("_name"):
        return rng.choice(NAMES)
    if re.search(r"(body|note|notes|description|message|comment|text|content|reason|instructions)$", low):
        return rng.choice(TEXTS)
    if re.search(r"(city|origin|destination|location|place)$", low):
        return rng.choice(CITIES)
    if "address" in low or "street" in low:
        return f"{rng.randint(1, 99)} Market Street"
    if "country" in low:
        return "US"
    if "currency" in low:
        return "USD"
    if low in ("q", "query", "keyword", "keywords", "search", "term", "text_query"):
        return rng.choice(WORDS)
    return rng.choice(WORDS)


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


def _fit_length(value: str, s: dict[str, Any]) -> str:
    lo, hi = s.get("minLength"), s.get("maxLength")
    if isinstance(hi, int) and len(value) > hi:
        value = value[:hi]
    if isinstance(lo, int) and len(value) < lo:
        value = value + "x" * (lo - len(value))
    return value


def _number(name: str, s: dict[str, Any], rng: random.Random, integer: bool) -> int | float:
    low = name.lower()
    lo = s.get("minimum")
    if lo is None and "exclusiveMinimum" in s:
        lo = s["exclusiveMinimum"] + (1 if integer else 0.01)
    hi = s.get("maximum")
    if hi is None and "exclusiveMaximum" in s:
        hi = s["exclusiveMaximum"] - (1 if integer else 0.01)
    if re.search(r"(quantity|qty|count|guests|passengers|people|party_size|seats|rooms|nights|adults)", low):
        span = (1, 3)
    elif low in ("limit", "page_size", "max_results"):
        span = (5, 20)
    elif re.search(r"(cents|price|amount|cost|total|budget)", low):
        span = (500, 20000) if "cents" in low else (5, 200)
    else:
        span = (1, 10)
    a = lo if lo is not None else span[0]
    b = hi if hi is not None else max(a, span[1])
    a, b = min(a, b), max(a, b)
    if integer:
        return rng.randint(int(a), int(min(b, a + max(span[1] - span[0], 9))))
    return round(rng.uniform(float(a), float(min(b, a + 100))), 2)


def value_for(name: str, schema: Any, rng: random.Random, root: dict[str, Any] | None = None, depth: int = 0,
              example_p: float = EXAMPLE_P) -> Any:
    """A value the schema accepts, preferring its own examples/enum/default."""
    s = resolve(schema, root)
    root = root or (schema if isinstance(schema, dict) else None)
    if "const" in s:
        return copy.deepcopy(s["const"])
    if isinstance(s.get("enum"), list) and s["enum"]:
        return copy.deepcopy(rng.choice(s["enum"]))
    examples = s.get("examples") if isinstance(s.get("examples"), list) else ([s["example"]] if "example" in s else [])
    if examples and (rng.random() < example_p or "pattern" in s):
        return copy.deepcopy(rng.choice(examples))
    if "default" in s and s["default"] is not None and rng.random() < 0.5:
        return copy.deepcopy(s["default"])
    typ = main_type(s) or "string"
    if typ == "string":
        value = _fit_length(_string(name, s, rng), s)
        if isinstance(s.get("pattern"), str) and not _matches(s["pattern"], value):
            value = from_pattern(s["pattern"], rng) or value
        return value
    if typ in ("integer", "number"):
        return _number(name, s, rng, typ == "integer")
    if typ == "boolean":
        return rng.random() < 0.5
    if typ == "array" and depth < 4:
        n = max(int(s.get("minItems", 1) or 1), 1)
        items = [value_for(name, s.get("items", {}), rng, root, depth + 1) for _ in range(n)]
        return items
    if typ == "object" and depth < 4:  # nested records: required fields and about half of the others
        req = set(required(s))
        return {k: value_for(k, v, rng, root, depth + 1) for k, v in properties(s).items()
                if k in req or (not is_id_like(k, resolve(v, root)) and rng.random() < 0.5)}
    return examples[0] if examples else None


def _order_pairs(args: dict[str, Any], rng: random.Random) -> None:
    """A generated end-like value follows its start-like partner (dates: 1-4 days, date-times: 1-2 hours)."""
    for a, b in PAIRS:
        for ka in [k for k in args if k.lower().startswith(a) or k.lower().endswith("_" + a)]:
            kb = next((k for k in args if k.lower() == ka.lower().replace(a, b, 1)), None)
            va = args[ka]
            if kb is None or not isinstance(va, str) or not isinstance(args[kb], str):
                continue
            try:
                if len(va) == 10:
                    args[kb] = (date.fromisoformat(va) + timedelta(days=rng.randint(1, 4))).isoformat()
                else:
                    end = datetime.fromisoformat(va.replace("Z", "+00:00")) + timedelta(hours=rng.randint(1, 2))
                    args[kb] = end.strftime("%Y-%m-%dT%H:%M:%SZ") if va.endswith("Z") else end.isoformat()
            except ValueError:
                continue


KNOWN_P = 0.85


def _accepts(schema: dict[str, Any], value: Any) -> bool:
    typ = main_type(schema)
    if typ == "string":
        ok = isinstance(value, str) and 0 < len(value) <= 200
        return ok and (not isinstance(schema.get("enum"), list) or value in schema["enum"]) and (
            not isinstance(schema.get("pattern"), str) or _matches(schema["pattern"], value))
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return False


class Known:
    """What a scenario's State holds, as a user could know it: scalar values by key (`email` -> every email) and the
    flat records they sit in (so related values, a flight's origin, destination and date, come from one record)."""

    def __init__(self, values: dict[str, list[Any]], records: list[dict[str, Any]]):
        self.values = values
        self.records = records

    @classmethod
    def of(cls, state: Any, limit: int = 50) -> Known:
        values: dict[str, list[Any]] = {}
        records: list[dict[str, Any]] = []

        def walk(x: Any, key: str, depth: int) -> None:
            if depth > 8:
                return
            if isinstance(x, dict):
                flat = {str(k).lower(): v for k, v in x.items()
                        if isinstance(v, (str, int)) and not isinstance(v, bool)}
                if len(flat) >= 2:
                    records.append(flat)
                for k, v in x.items():
                    walk(v, str(k).lower(), depth + 1)
            elif isinstance(x, list):
                for v in x:
                    walk(v, key, depth + 1)
            elif isinstance(x, (str, int)) and not isinstance(x, bool) and key:
                bucket = values.setdefault(key, [])
                if x not in bucket and len(bucket) < limit:
                    bucket.append(x)

        walk(state, "", 0)
        return cls(values, records)

    def record_for(self, names: list[str], rng: random.Random) -> dict[str, Any] | None:
        """Values for several parameters from one record holding them all (dates taken from a date-time)."""
        if len(names) < 2:
            return None
        fits = []
        for rec in self.records:
            got = {}
            for n in names:
                low = n.lower()
                if low in rec:
                    got[n] = rec[low]
                elif "date" in low:
                    stamp = next((v for k, v in rec.items() if isinstance(v, str) and (k.endswith("_at") or "date"
                                  in k or k.startswith("depart")) and re.match(r"\d{4}-\d\d-\d\d", v)), None)
                    if stamp:
                        got[n] = stamp[:10]
            if len(got) == len(names):
                fits.append(got)
        return rng.choice(fits) if fits else None


def fill_arguments(input_schema: dict[str, Any], fed: dict[str, Any], rng: random.Random,
                   tool_name: str = "", read_only: bool = False, known: Known | None = None) -> dict[str, Any]:
    """Arguments in schema property order: fed values, generated required values, a few optional ones.

    Lookups (read-only tools) nearly always use the schema's examples: they must name something that exists.
    An update-like tool always gets at least one optional field (else it has nothing to change)."""
    example_p = LOOKUP_EXAMPLE_P if read_only else EXAMPLE_P
    props = properties(input_schema)
    req = set(required(input_schema))
    together: dict[str, Any] = {}
    if known is not None and read_only and rng.random() < KNOWN_P:  # a search for something that exists
        stated = [n for n in props if n in req and n not in fed and not is_id_like(n, resolve(props[n], input_schema))]
        together = {k: v for k, v in (known.record_for(stated, rng) or {}).items()
                    if _accepts(resolve(props[k], input_schema), v)}
    args: dict[str, Any] = {}
    optional: list[str] = []
    for name, raw in props.items():
        if name in fed:
            args[name] = fed[name]
            continue
        s = resolve(raw, input_schema)
        if is_id_like(name, s):
            continue
        if name in req:
            if name in together:
                args[name] = together[name]
                continue
            pool = [v for v in (known.values if known else {}).get(name.lower(), []) if _accepts(s, v)]
            if pool and rng.random() < KNOWN_P:  # a value the State holds: a lookup that finds something
                args[name] = rng.choice(pool)
                continue
            value = value_for(name, raw, rng, input_schema, example_p=example_p)
            for _ in range(8):  # two parameters drawn from one pool (origin, destination) should differ
                if not isinstance(value, str) or value not in args.values():
                    break
                value = value_for(name, raw, rng, input_schema, example_p=example_p)
            args[name] = value
        elif name.lower() not in SKIP_OPTIONAL and name.lower() != "limit":
            optional.append(name)
            if rng.random() < OPTIONAL_P:
                args[name] = value_for(name, raw, rng, input_schema)
    if tool_name.lower().startswith(UPDATE_VERBS) and optional and not any(o in args for o in optional):
        pick = rng.choice(optional)
        args[pick] = value_for(pick, props[pick], rng, input_schema)
        args = {k: args[k] for k in props if k in args}
    _order_pairs(args, rng)
    return args
