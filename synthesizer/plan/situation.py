"""The one situation a call's arguments describe: a place, the people in it, and a clock.

Values used to be drawn one parameter at a time, so an address read "Tokyo, OR 10001", every event started at the
same minute and every booking was for the schema example's two people. A `Situation` is drawn lazily from the
call's rng (same rng, same situation) and every value that must agree with another comes from it: all address,
country, currency, phone, language and time-zone parameters from one `Place` fitting every such parameter's schema;
the name, email, username and phone of one object from one person (other objects get other people); starts from
one anchor in the future of the State's own clock, ends after it by a duration that fits the thing (a meeting 30-90
minutes, a stay 1-7 nights, a flight hours); lookups use windows around now and the State's own people.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from common import locales, naming
from common.locales import Place
from synthesizer.plan.known import Known, parse_moment
from synthesizer.plan.meaning import PLACE_KINDS, US_HINT, Param, described_values, is_address_group, kind_of
from synthesizer.plan.schema import main_type, properties, resolve

BASE_DAY = date(2026, 3, 2)
DEFAULT_NOW = datetime.combine(BASE_DAY, time(9, 0), UTC)
PEOPLE: tuple[tuple[str, str], ...] = (
    ("Mei", "Chen"), ("Priya", "Shah"), ("Diego", "Alvarez"), ("Samuel", "Okafor"), ("Laura", "Becker"),
    ("Yuki", "Tanaka"), ("Amara", "Nwosu"), ("Lucas", "Oliveira"), ("Fatima", "Haddad"), ("Sofia", "Rossi"),
    ("Mateo", "García"), ("Aisha", "Khan"), ("Kwame", "Mensah"), ("Ingrid", "Johansson"), ("Hiroshi", "Sato"),
    ("Ana", "Souza"), ("Olivia", "Brown"), ("Noah", "Kim"), ("Chloé", "Dubois"), ("Jonas", "Weber"),
    ("Elena", "Petrova"), ("Arjun", "Mehta"), ("Leila", "Ahmadi"), ("Tomás", "Silva"), ("Grace", "Wanjiru"),
    ("Ethan", "Walker"), ("Zanele", "Dlamini"), ("Min-jun", "Park"), ("Isabella", "Martins"), ("Omar", "Farouk"),
    ("Hana", "Novak"), ("Liam", "O'Connor"), ("Nadia", "Kowalski"), ("Ravi", "Iyer"), ("Camila", "Torres"),
)
COMPANIES = ("Northwind Traders", "Kestrel Analytics", "Harbor Lane Bakery", "Oakridge Dental", "Lumen Studio",
             "Tanaka Design Office", "Baobab Logistics", "Fjord Analytics", "Casa Verde Imports", "Sunrise Pediatrics")
JOB_TITLES = ("Operations Manager", "Product Designer", "Account Executive", "Data Analyst", "Office Manager",
              "Software Engineer", "Head of Finance")
DOMAINS = ("example.com", "example.org", "example.net")

LOWER = frozenset({"after", "since", "from", "min", "earliest", "gte", "gt"})
UPPER = frozenset({"before", "until", "to", "max", "latest", "lte", "lt"})
START = frozenset({"start", "begin", "begins", "check_in", "checkin", "depart", "departure", "pickup", "open", "opens",
                   "starts"})
END = frozenset({"end", "ends", "finish", "check_out", "checkout", "arrive", "arrival", "return", "dropoff", "close",
                 "closes"})
PAST = frozenset({"created", "updated", "modified", "completed", "sent", "received", "delivered", "opened", "clicked",
                  "bounced", "deleted", "published", "last", "joined", "signed", "paid", "cancelled", "canceled",
                  "shipped", "placed"})
FUTURE_THINGS = frozenset({"event", "meeting", "flight", "booking", "reservation", "slot", "appointment", "trip",
                           "ride", "instance", "task", "schedule", "availability", "free", "busy", "itinerary",
                           "calendar", "shift", "class", "session"})
THINGS: tuple[tuple[str, frozenset[str]], ...] = (
    ("flight", frozenset({"flight", "depart", "departure", "arrival", "airline"})),
    ("stay", frozenset({"hotel", "stay", "room", "lodging", "check_in", "checkin", "night", "nights", "rental",
                        "accommodation", "property"})),
    ("ride", frozenset({"ride", "rides", "driver", "pickup", "dropoff"})),
    ("meeting", frozenset({"event", "meeting", "appointment", "call", "session", "slot", "interview", "class",
                           "lesson", "calendar", "instance", "conference"})),
)


def fmt_datetime(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ascii_word(text: str) -> str:
    """`Chloé` -> `chloe`, `O'Connor` -> `oconnor` (for email local parts and usernames)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9-]", "", plain)


@dataclass
class Person:
    first: str
    last: str
    email: str
    known: bool = False  # taken from the State
    birth: date | None = None

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


def path_words(path: tuple[str, ...], name: str) -> list[list[str]]:
    """The words of the leaf name and then of each enclosing key, with `fromdate` read as `from date`."""
    out = []
    for part in (name, *reversed(path)):
        words: list[str] = []
        for tok in (naming.snake(part) or part.lower()).split("_"):
            m = re.fullmatch(r"(from|to|start|end|since|until)(date|time|datetime|day)", tok)
            words.extend([m.group(1), m.group(2)] if m else [tok])
        joined = "_".join(words)
        words += [w for w in ("check_in", "check_out") if w in joined]
        out.append(words)
    return out


def time_role(path: tuple[str, ...], name: str) -> str:
    """lower / upper (a filter's bounds), start / end (of the thing), past (a record's history) or point."""
    for words in path_words(path, name):
        ws = set(words)
        if ws & LOWER:
            return "lower"
        if ws & UPPER:
            return "upper"
        if ws & START:
            return "start"
        if ws & END:
            return "end"
        if ws & PAST:
            return "past"
        if ws - {"date", "time", "datetime", "date_time", "day", "value", "timestamp", "at"}:
            return "point"  # a leaf with its own meaning (`due`) does not take its parent's
    return "point"


def _fits(value: str, s: dict[str, Any]) -> bool:
    if isinstance(s.get("enum"), list) and s["enum"] and value not in s["enum"]:
        return False
    if isinstance(s.get("maxLength"), int) and len(value) > s["maxLength"]:
        return False
    if isinstance(s.get("minLength"), int) and len(value) < s["minLength"]:
        return False
    pattern = s.get("pattern")
    if isinstance(pattern, str):
        try:
            return re.search(pattern, value) is not None
        except re.error:
            return True
    return True


def _examples(s: dict[str, Any]) -> list[str]:
    listed = s.get("examples")
    ex = list(listed) if isinstance(listed, list) else ([s["example"]] if "example" in s else [])
    return [str(e) for e in ex if isinstance(e, (str, int))] + described_values(str(s.get("description", "")))


def place_forms(kind: str, p: Param, place: Place, rng: random.Random) -> list[str]:
    """The ways a place's value for `kind` can be written, the form this parameter most likely wants first."""
    c = place.country
    s, desc, snake = p.schema, p.desc.lower(), p.snake
    if kind == "city":
        return [place.city]
    if kind == "postal":
        return [place.postal_code]
    if kind == "street":
        return [place.street_line(rng)]
    if kind == "address":
        return [place.one_line(rng)]
    if kind == "location":
        if p.snake in ("origin", "destination"):
            return [place.city]
        return [rng.choice((f"{place.city}, {c.name}", place.one_line(rng), f"{place.street_line(rng)}, {place.city}")),
                place.city]
    if kind == "region":
        wants_code = "code" in snake or bool(re.search(r"abbreviation|two-letter|\bcode\b|3166-2", desc)) or (
            isinstance(s.get("maxLength"), int) and s["maxLength"] <= 3) or "pattern" in s or (
            c.code == "US" and p.tokens[-1:] == ["state"])
        forms = [place.region_code, place.region]
        return forms if wants_code else forms[::-1]
    if kind == "country":
        ex = _examples(s)
        if re.search(r"alpha-?3|three-letter", desc) or "{3}" in str(s.get("pattern", "")):
            return [c.alpha3, c.code, c.name]
        if "name" in snake or re.search(r"full name|country name", desc) or any(len(e) > 3 for e in ex):
            return [c.name, c.code, c.alpha3]
        return [c.code, c.alpha3, c.name]
    if kind == "currency":
        return [c.currency]
    if kind == "timezone":
        return [place.time_zone]
    if kind in ("language", "locale"):
        tag = place.language
        underscore = "underscore" in desc or "_" in str(s.get("pattern", "")) or any("_" in e for e in _examples(s))
        full = tag.replace("-", "_") if underscore else tag
        if kind == "locale" or re.search(r"bcp|ietf|locale|region", desc) or any("-" in e for e in _examples(s)):
            return [full, tag.split("-")[0]]
        return [tag.split("-")[0], full]
    if kind == "phone":
        compact = "e.164" in desc or "pattern" in s
        return [place.phone(rng, compact), place.phone(rng, not compact)]
    if kind == "iban":
        value = locales.iban(place.country_code, rng)
        return [value] if value else []
    return []


def collect_place_params(root: dict[str, Any] | None, tool_tokens: list[str]) -> list[tuple[str, Param]]:
    """Every parameter of a tool whose value must come from the call's place, with its kind."""
    out: list[tuple[str, Param]] = []

    def walk(s: dict[str, Any], path: tuple[str, ...], depth: int) -> None:
        props = properties(s)
        group = is_address_group(list(props))
        for k, raw in props.items():
            rs = resolve(raw, root)
            typ = main_type(rs)
            if typ == "array" and isinstance(rs.get("items"), dict):
                item = resolve(rs["items"], root)
                if main_type(item) == "object" and depth < 5:
                    walk(item, (*path, k), depth + 1)
                elif main_type(item) in ("string", None):
                    rs = {**item, "description": rs.get("description", "")}
                    typ = "string"
            if typ == "object" and depth < 5:
                walk(rs, (*path, k), depth + 1)
            elif typ in ("string", None):
                p = Param(k, rs, path, group)
                kind = kind_of(p, tool_tokens)
                if kind in PLACE_KINDS:
                    out.append((kind, p))

    if isinstance(root, dict):
        walk(root, (), 0)
    return out


@dataclass
class Situation:
    """One call's place, people and clock, drawn lazily (and so deterministically) from its rng."""

    rng: random.Random
    world: Known | None = None
    tool: str = ""
    lookup: bool = False
    root: dict[str, Any] | None = None
    tool_tokens: list[str] = field(init=False)
    now: datetime = field(init=False)
    _place: Place | None = field(default=None, init=False)
    _people: dict[tuple[str, ...], Person] = field(default_factory=dict, init=False)
    _anchor: datetime | None = field(default=None, init=False)
    _window: tuple[datetime, datetime] | None = field(default=None, init=False)
    _durations: dict[str, timedelta] = field(default_factory=dict, init=False)
    _points: dict[tuple[str, ...], datetime] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.tool_tokens = [t for t in naming.snake(self.tool).split("_") if t]
        self.now = self.world.now if self.world is not None and self.world.now is not None else DEFAULT_NOW

    # --- place -------------------------------------------------------------------------------------------------

    def place(self) -> Place:
        if self._place is None:
            self._place = self._choose_place()
        return self._place

    def _choose_place(self) -> Place:
        params = collect_place_params(self.root, self.tool_tokens)
        probe = random.Random(0)  # forms are judged on a fixed draw: choosing must not consume the call's rng

        def fits(place: Place, subset: list[tuple[str, Param]]) -> bool:
            return all(any(_fits(v, p.schema) for v in place_forms(k, p, place, probe)) for k, p in subset)

        address = [(k, p) for k, p in params if k not in ("currency", "language", "locale", "timezone")]
        candidates = [pl for pl in locales.PLACES if fits(pl, params)] or [
            pl for pl in locales.PLACES if fits(pl, address)] or list(locales.PLACES)
        if any(US_HINT.search(p.desc) for _, p in params):
            candidates = [pl for pl in candidates if pl.country_code == "US"] or candidates
        home = [pl for pl in candidates if self.world is not None and pl.country_code in self.world.countries]
        if home and self.rng.random() < 0.85:
            candidates = home
        return self.rng.choice(candidates)

    def place_value(self, kind: str, p: Param) -> str | None:
        """The place's value for an address/locale parameter in the form its schema accepts, else None."""
        return next((v for v in place_forms(kind, p, self.place(), self.rng) if _fits(v, p.schema)), None)

    def coordinates(self, p: Param) -> float:
        """Latitude or longitude near the place's centre (a ride's end a little off its start)."""
        place = self.place()
        base = place.lat if re.search(r"lat", p.snake) else place.lng
        return round(base + self.rng.uniform(-0.02, 0.02), 5)

    # --- people ------------------------------------------------------------------------------------------------

    def person(self, slot: tuple[str, ...]) -> Person:
        """The person an object (keyed by its path) describes; different objects get different people."""
        if slot not in self._people:
            self._people[slot] = self._new_person()
        return self._people[slot]

    def _new_person(self) -> Person:
        taken = {p.name for p in self._people.values()}
        world = self.world
        if self.lookup and world is not None and world.people:
            free = [pp for pp in world.people if pp[0] not in taken] or world.people
            name, email = self.rng.choice(free)
            first, _, last = name.partition(" ")
            return Person(first, last or first, email, known=True)
        known_names = {n.lower() for n, _ in world.people} if world is not None else set()
        pool = [p for p in PEOPLE if f"{p[0]} {p[1]}" not in taken and f"{p[0]} {p[1]}".lower() not in known_names]
        first, last = self.rng.choice(pool or list(PEOPLE))
        domain = world.email_domain if world is not None and world.email_domain and self.rng.random() < 0.5 \
            else self.rng.choice(DOMAINS)
        return Person(first, last, f"{ascii_word(first)}.{ascii_word(last)}@{domain}")

    def person_value(self, kind: str, slot: tuple[str, ...], p: Param) -> str | None:
        person = self.person(slot)
        if kind == "person":
            return person.name
        if kind == "first_name":
            return person.first
        if kind in ("last_name", "middle_name"):
            return person.last
        if kind == "email":
            return person.email
        if kind == "username":
            first, last = ascii_word(person.first), ascii_word(person.last)
            n = self.rng.randint(1, 99)
            return self.rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{last[:1]}{n}"))
        if kind == "phone":
            return self.place_value("phone", p)
        if kind == "birth_date":
            return self.birth(slot).isoformat()
        if kind == "company":
            return self.rng.choice(COMPANIES)
        if kind == "job_title":
            return self.rng.choice(JOB_TITLES)
        return None

    def birth(self, slot: tuple[str, ...]) -> date:
        person = self.person(slot)
        if person.birth is None:
            person.birth = date(self.now.year - self.rng.randint(22, 68), self.rng.randint(1, 12),
                                self.rng.randint(1, 28))
        return person.birth

    # --- time --------------------------------------------------------------------------------------------------

    def thing(self, words: list[str]) -> str:
        """What a start/end pair times: a flight, a stay, a ride, a meeting (by the tool's and the pair's words)."""
        pool = set(self.tool_tokens) | set(words)
        return next((name for name, keys in THINGS if pool & keys), "meeting")

    def duration(self, thing: str, dated: bool) -> timedelta:
        key = f"{thing}:{dated}"
        if key not in self._durations:
            r = self.rng
            if thing == "stay":
                d = timedelta(days=r.randint(1, 7))
            elif dated:
                d = timedelta(days=1 if thing in ("meeting", "ride", "flight") else r.randint(1, 7))
            elif thing == "flight":
                d = timedelta(hours=r.randint(1, 11), minutes=r.choice((0, 15, 30, 45)))
            elif thing == "ride":
                d = timedelta(minutes=r.randrange(15, 61, 5))
            else:
                d = timedelta(minutes=r.choice((30, 45, 60, 60, 90)))
            self._durations[key] = d
        return self._durations[key]

    def _quarter(self, day: date) -> datetime:
        minute = self.rng.randrange(7 * 60, 20 * 60, 15)
        return datetime.combine(day, time(minute // 60, minute % 60), UTC)

    def anchor(self, thing: str) -> datetime:
        """When the thing being created starts: 1-21 days after now, on a quarter hour 07:00-19:45."""
        if self._anchor is None:
            day = self.now.date() + timedelta(days=self.rng.randint(1, 21))
            self._anchor = datetime.combine(day, time(15, 0), UTC) if thing == "stay" else self._quarter(day)
        return self._anchor

    def future_lookup(self) -> bool:
        return bool({naming.singular(t) for t in self.tool_tokens} & FUTURE_THINGS)

    def window(self) -> tuple[datetime, datetime]:
        """A lookup's time window: the coming days for events and flights, the past weeks for history."""
        if self._window is None:
            midnight = datetime.combine(self.now.date(), time(0, 0), UTC)
            if self.future_lookup():
                lo = midnight + timedelta(days=self.rng.randint(0, 3))
                self._window = (lo, lo + timedelta(days=self.rng.randint(7, 30)))
            else:
                hi = midnight + timedelta(days=1)
                self._window = (hi - timedelta(days=self.rng.randint(7, 60)), hi)
        return self._window

    def moment(self, path: tuple[str, ...], name: str, dated: bool = False) -> datetime:
        """The instant a time parameter stands for, by its role and the kind of call."""
        role = time_role(path, name)
        words = [w for ws in path_words(path, name) for w in ws]
        if role == "past":
            key = (*path, name)
            if key not in self._points:
                self._points[key] = self._quarter(self.now.date() - timedelta(days=self.rng.randint(1, 120)))
            return self._points[key]
        if self.lookup:
            lo, hi = self.window()
            if role in ("lower", "start"):
                return lo
            if role in ("upper", "end"):
                return hi
            key = ("point",)
            if key not in self._points:
                shift = self.rng.randint(0, 14) if self.future_lookup() else -self.rng.randint(1, 30)
                self._points[key] = self._quarter(self.now.date() + timedelta(days=shift))
            return self._points[key]
        thing = self.thing(words)
        start = self.anchor(thing)
        if role in ("end", "upper"):
            end = start + self.duration(thing, dated)
            return end.replace(hour=11, minute=0) if thing == "stay" and not dated else end
        return start

    def end_after(self, start: str, path: tuple[str, ...], name: str) -> str | None:
        """An end for a given (fed) start, in the start's own format."""
        moment = parse_moment(start)
        if moment is None:
            return None
        dated = len(start) == 10
        thing = self.thing([w for ws in path_words(path, name) for w in ws])
        end = moment + self.duration(thing, dated)
        if dated:
            return end.date().isoformat()
        return fmt_datetime(end) if start.endswith("Z") else end.isoformat()
