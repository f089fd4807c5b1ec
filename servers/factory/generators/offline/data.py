"""Deterministic, realistic values from schemas and field names, and the three scenarios (small, typical, edge).

Generation-time only: a `random.Random` seeded from the environment and scenario names. The generated
environment itself never draws random numbers.
"""

from __future__ import annotations

import hashlib
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from servers.factory.generators.offline import names, schemas
from servers.factory.generators.offline.records import format_id, initial_status, is_terminal
from servers.factory.generators.offline.resources import Collection

NOW = "2026-01-05T09:00:00Z"
NOW_DT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FIRST = ["Ana", "Bruno", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ingrid", "Jonas", "Keiko", "Luis",
         "Maya", "Nikolai", "Olivia", "Priya", "Quentin", "Rosa", "Samir", "Tessa"]
LAST = ["Almeida", "Berg", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen",
        "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka"]
NOUNS = ["Roadmap", "Budget", "Launch", "Review", "Onboarding", "Workshop", "Newsletter", "Inventory", "Campaign",
         "Report", "Retrospective", "Proposal", "Checklist", "Offsite", "Renewal", "Audit", "Summit", "Sprint"]
ADJ = ["Quarterly", "Annual", "Weekly", "Spring", "Team", "Client", "Product", "Regional", "Internal", "Design"]
CITIES = [("Lisbon", "PT"), ("Budapest", "HU"), ("Austin", "US"), ("Toronto", "CA"), ("Lyon", "FR"),
          ("Osaka", "JP"), ("Berlin", "DE"), ("Seattle", "US"), ("Dublin", "IE"), ("Melbourne", "AU")]
STREETS = ["Maple Street", "Rua Augusta", "Andrássy út", "King Street West", "Rue de la République", "Elm Avenue"]
COMPANIES = ["Northwind Traders", "Blue Harbor Labs", "Kestrel & Co", "Lumen Analytics", "Orchard Supply"]
UNICODE_NAMES = ["Zoë Łukasz", "東京 ☕ Café", "Ünïcødé Überschrift 😀", "O'Brien \"quoted\" & Sons"]
SENTENCES = ["Please review before Friday.", "Follow up with the vendor about delivery.",
             "Draft shared with the team for comments.", "Bring the signed copy to the meeting.",
             "Numbers updated after the last call."]


def seeded(*parts: str) -> random.Random:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Values:
    """Schema- and name-guided values from one seeded RNG; `refs` supplies ids for `<thing>_id` fields."""

    def __init__(self, rng: random.Random, refs: dict[str, list[Any]] | None = None, unicode: bool = False):
        self.rng = rng
        self.refs = refs or {}
        self.unicode = unicode

    def person(self) -> str:
        return f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"

    def title(self) -> str:
        if self.unicode and self.rng.random() < 0.6:
            return self.rng.choice(UNICODE_NAMES)
        return f"{self.rng.choice(ADJ)} {self.rng.choice(NOUNS)}"

    def value(self, schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        schema = schemas.resolve(schema)
        rng = self.rng
        for key in ("examples",):
            if isinstance(schema.get(key), list) and schema[key] and rng.random() < 0.5:
                return rng.choice(schema[key])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            choices = [v for v in schema["enum"] if v is not None] or schema["enum"]
            return rng.choice(choices)
        kind = schemas.main_type(schema) or "string"
        low = names.snake(name)
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "integer":
            return self._integer(low, schema)
        if kind == "number":
            lo = schema.get("minimum", 1)
            hi = schema.get("maximum", 500)
            last = low.split("_")[-1]
            if last in ("lat", "latitude"):
                return round(rng.uniform(-60, 60), 6)
            if last in ("lng", "lon", "long", "longitude"):
                return round(rng.uniform(-120, 120), 6)
            return round(rng.uniform(lo if isinstance(lo, int | float) else 1, hi if isinstance(hi, int | float)
                                     else 500), 2)
        if kind == "array":
            items = schema.get("items") if isinstance(schema.get("items"), dict) else None
            if items is None or depth > 2:
                return []
            return [self.value(items, names.singular(low), depth + 1) for _ in range(rng.randint(1, 2))]
        if kind == "object":
            props = schema.get("properties")
            props = props if isinstance(props, dict) else {}
            if depth > 2:
                return {}
            return {k: self.value(v, k, depth + 1) for k, v in props.items()
                    if k in (schema.get("required") or []) or rng.random() < 0.7}
        return self._string(low, schema)

    def _integer(self, low: str, schema: dict[str, Any]) -> int:
        rng = self.rng
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if isinstance(lo, int) and isinstance(hi, int) and lo <= hi:
            return rng.randint(lo, min(hi, lo + 1000))
        if any(w in low for w in ("price", "amount", "cost", "total", "cents", "balance", "fee")):
            value = rng.randint(5, 500) * 100 + rng.choice([0, 50, 99])
        elif any(w in low for w in ("count", "quantity", "qty", "number", "size")):
            value = rng.randint(1, 12)
        elif "year" in low:
            value = rng.randint(2015, 2026)
        elif "rating" in low or "score" in low:
            value = rng.randint(1, 5)
        elif low.endswith(("time", "millis", "at", "nanos")) or "timestamp" in low:
            value = int((NOW_DT - timedelta(days=rng.randint(0, 60))).timestamp()) * (
                1000 if "millis" in low else 1)
        else:
            value = rng.randint(1, 250)
        if isinstance(lo, int) and value < lo:
            value = lo
        if isinstance(hi, int) and value > hi:
            value = hi
        return value

    def _string(self, low: str, schema: dict[str, Any]) -> str:
        rng = self.rng
        fmt = schema.get("format")
        ref = self._reference(low)
        if ref is not None:
            return str(ref)
        when = NOW_DT + timedelta(days=rng.randint(-45, 30), hours=rng.randint(0, 8))
        if fmt == "date-time" or low.endswith(("_at", "time", "timestamp")) or low in ("created", "updated"):
            return _iso(when)
        if fmt == "date" or low.endswith("date") or low in ("due", "birthday"):
            return when.strftime("%Y-%m-%d")
        if fmt == "email" or "email" in low:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            return f"{first.lower().replace('é', 'e')}.{last.lower()}@example.com"
        if fmt in ("uri", "url") or any(w in low for w in ("url", "link", "href", "uri", "website")):
            return f"https://example.com/{rng.choice(NOUNS).lower()}/{rng.randint(100, 999)}"
        if fmt == "uuid" or low.endswith("uuid"):
            a, b, c, d, e = (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12), rng.getrandbits(12),
                             rng.getrandbits(48))
            return f"{a:08x}-{b:04x}-4{c:03x}-8{d:03x}-{e:012x}"
        if "phone" in low or "mobile" in low:
            return f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        if low in ("currency", "currency_code") or low.endswith("currency"):
            return rng.choice(["USD", "EUR", "HUF", "GBP"])
        if low in ("country", "country_code"):
            return rng.choice(CITIES)[1]
        if "city" in low:
            return rng.choice(CITIES)[0]
        if any(w in low for w in ("address", "street", "line1")):
            return f"{rng.randint(1, 240)} {rng.choice(STREETS)}"
        if any(w in low for w in ("zip", "postal", "postcode")):
            return f"{rng.randint(10000, 99999)}"
        if any(w in low for w in ("timezone", "time_zone")):
            return rng.choice(["Europe/Lisbon", "America/Chicago", "Asia/Tokyo"])
        if low in ("language", "locale", "lang"):
            return rng.choice(["en", "hu", "fr", "ja"])
        if "color" in low or "colour" in low:
            return f"#{rng.getrandbits(24):06x}"
        if low in ("first_name", "given_name", "firstname"):
            return rng.choice(FIRST)
        if low in ("last_name", "family_name", "lastname", "surname"):
            return rng.choice(LAST)
        if any(w in low for w in ("company", "organization", "organisation", "vendor")):
            return rng.choice(COMPANIES)
        if low in ("username", "user_name", "login", "handle"):
            return f"{rng.choice(FIRST).lower().replace('é', 'e')}{rng.randint(10, 99)}"
        if any(w in low for w in ("description", "notes", "note", "body", "text", "content", "comment", "message")):
            return rng.choice(SENTENCES)
        if low in ("kind", "type", "etag", "category"):
            return f"{low}-{rng.choice(NOUNS).lower()}"
        if low.endswith(("name", "title", "summary", "subject", "label")) and any(
                w in low for w in ("display", "full", "person", "user", "contact", "customer", "owner")):
            return self.person()
        if low.endswith(("name", "title", "summary", "subject", "label", "alias")) or low == "name":
            return self.title()
        if low.endswith(("id", "_ids", "token", "code", "key", "ref", "reference", "number")):
            return f"{low.split('_')[0][:3]}-{rng.randint(1000, 9999)}"
        max_len = schema.get("maxLength")
        text = f"{rng.choice(ADJ).lower()}-{rng.choice(NOUNS).lower()}"
        return text[:max_len] if isinstance(max_len, int) and max_len > 0 else text

    def _reference(self, low: str) -> Any:
        for suffix in ("_id", "_ids", "id"):
            if low.endswith(suffix) and low != suffix.strip("_"):
                stem = low[: -len(suffix)].rstrip("_")
                pool = self.refs.get(stem)
                if pool:
                    return self.rng.choice(pool)
        return None


# --- scenarios ------------------------------------------------------------------------------------------------

SIZES = {"small": (3, 2), "typical": (12, 3), "edge": (2, 0)}


def make_id(col: Collection, n: int) -> Any:
    return format_id(col, n)


def make_record(col: Collection, values: Values, n: int, parent_id: Any, scenario: str) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for field, sub in col.schema.get("properties", {}).items():
        if field in (col.id_field, col.parent_field):
            continue
        record[field] = values.value(sub, field)
    record[col.id_field] = make_id(col, n)
    if col.parent_field is not None and parent_id is not None:
        record[col.parent_field] = parent_id
    if col.name_field is not None:
        record[col.name_field] = (values.person() if col.singular in ("user", "person", "contact", "partner",
                                                                      "member", "customer", "driver")
                                  else values.title())
        if scenario == "edge" and n == 1:
            record[col.name_field] = UNICODE_NAMES[n % len(UNICODE_NAMES)]
    if col.status_field is not None:
        start = initial_status(col)
        terminal = [s for s in col.statuses if is_terminal(s)]
        if scenario == "edge" and terminal and n % 2 == 0:
            record[col.status_field] = terminal[0]
        elif scenario == "typical" and n % 4 == 0:
            record[col.status_field] = values.rng.choice(col.statuses)
        else:
            record[col.status_field] = start
    for stamp in (col.created_field, col.updated_field):
        if stamp is not None:
            record[stamp] = _iso(NOW_DT - timedelta(days=3 * n + 1, hours=n))
    return {k: record[k] for k in sorted(record, key=lambda k: (k != col.id_field, k))}


def build_scenario(env: str, scenario: str, collections: list[Collection]) -> dict[str, Any]:
    """A State dict: `now`, `counters` consistent with the ids, one dict of records per collection."""
    rng = seeded(env, scenario)
    top, per_parent = SIZES[scenario]
    refs: dict[str, list[Any]] = {}
    values = Values(rng, refs, unicode=scenario == "edge")
    state: dict[str, Any] = {"now": NOW, "counters": {}}
    for col in collections:
        records: dict[str, Any] = {}
        n = 0
        if col.parent is None:
            owners: list[Any] = [None]
            count = min(top, len(col.id_enum)) if col.id_style == "enum" else top
        else:
            owners = [r[col.parent.id_field] for r in state[col.parent.key].values()]
            count = per_parent
            if scenario == "typical":
                owners = owners[:8]
        for owner in owners:
            for _ in range(count):
                n += 1
                record = make_record(col, values, n, owner, scenario)
                records[str(record[col.id_field])] = record
        state[col.key] = records
        if n:
            state["counters"][col.prefix] = n
        refs[col.singular] = [r[col.id_field] for r in records.values()]
        refs[names.snake(col.segment)] = refs[col.singular]
    return state


def sample(schema: dict[str, Any] | None, env: str, tool: str) -> Any:
    """A fixed, schema-valid sample for a read the environment does not model as records."""
    values = Values(seeded(env, "sample", tool))
    return values.value(schema or {"type": "object"}, "result")


def clean_name(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
