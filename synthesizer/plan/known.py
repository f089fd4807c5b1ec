"""What a scenario's State holds, as a user could know it: values by key, the flat records they sit in, the
people in it, the State's own clock. Lookups state these values (a user knows their own email); creations only
take the clock and the people's email domain from it."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, date, datetime, time
from typing import Any

CLOCK_KEYS = ("now", "current_time", "currenttime", "current_datetime", "clock", "today", "current_date")
NAME_KEYS = ("name", "full_name", "fullname", "display_name", "displayname", "recipient")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


def parse_moment(value: Any) -> datetime | None:
    """An ISO date or date-time as an aware UTC datetime (a date is taken at 09:00), else None."""
    if not isinstance(value, str) or not re.match(r"\d{4}-\d\d-\d\d", value):
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(9, 0), UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _clock(state: Any) -> datetime | None:
    """The State's own notion of now: a top-level key like `now`, or one level down (`meta.now`)."""
    if not isinstance(state, dict):
        return None
    lowered = {str(k).lower(): v for k, v in state.items()}
    for key in CLOCK_KEYS:
        if key in lowered:
            found = parse_moment(lowered[key]) if not isinstance(lowered[key], dict) else _clock(lowered[key])
            if found is not None:
                return found
    for v in lowered.values():
        if isinstance(v, dict) and not isinstance(next(iter(v.values()), None), dict):
            for key in CLOCK_KEYS:
                if key in v and (found := parse_moment(v[key])) is not None:
                    return found
    return None


def _person(rec: dict[str, Any]) -> tuple[str, str] | None:
    """(name, email) of a record that describes a person: a name-like key and an email beside it."""
    email = next((v for k, v in rec.items() if isinstance(v, str) and "email" in k and EMAIL.match(v)), None)
    if email is None:
        return None
    name = next((v for k in NAME_KEYS if isinstance(v := rec.get(k), str) and len(v.split()) >= 2), None)
    if name is None:
        first = rec.get("first_name", rec.get("firstname", rec.get("given_name")))
        last = rec.get("last_name", rec.get("lastname", rec.get("family_name")))
        name = f"{first} {last}" if isinstance(first, str) and isinstance(last, str) and first and last else None
    return (name, email) if name else None


class Known:
    """What a scenario's State holds, as a user could know it: scalar values by key (`email` -> every email) and the
    flat records they sit in (so related values, a flight's origin, destination and date, come from one record);
    `now` is the State's clock when it keeps one, `people` the (name, email) pairs of its records."""

    def __init__(self, values: dict[str, list[Any]], records: list[dict[str, Any]], now: datetime | None = None):
        self.values = values
        self.records = records
        self.now = now
        self.people: list[tuple[str, str]] = list(dict.fromkeys(p for r in records if (p := _person(r))))
        domains = Counter(str(v).rsplit("@", 1)[1].lower() for vs in values.values() for v in vs
                          if isinstance(v, str) and EMAIL.match(v))
        self.email_domain: str | None = domains.most_common(1)[0][0] if domains else None
        self.countries: list[str] = [v.upper() for k in ("country", "country_code") for v in values.get(k, [])
                                     if isinstance(v, str) and len(v) == 2]

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
        return cls(values, records, _clock(state))

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

    def terms(self) -> list[str]:
        """Short words a user could search for: the leading words of the State's titles and names."""
        out: list[str] = []
        for key in ("title", "name", "summary", "subject"):
            for v in self.values.get(key, []):
                if isinstance(v, str) and re.fullmatch(r"[A-Za-z][\w' .&-]{2,60}", v):
                    word = next((w for w in re.findall(r"[A-Za-z]{4,}", v)), None)
                    if word and word.lower() not in out:
                        out.append(word.lower())
        return out
