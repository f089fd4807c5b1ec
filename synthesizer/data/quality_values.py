"""Defects of argument values (quality classes 4, 9, 12): filler and ill-fitting values, values from nowhere,
addresses whose parts disagree. Definitions: synthesizer/data/quality.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

from common import naming
from common.locales import coherent
from synthesizer.data.quality_read import (
    ISO_STAMP,
    Found,
    all_calls,
    call_leaves,
    contains,
    day_of,
    dedupe,
    has_number,
    human_day,
    leaves,
    message_calls,
    name_words,
    short,
    text_of,
    time_said,
    tool_defs,
    words,
)
from synthesizer.data.records import Trajectory, split_qualified

PLACEHOLDERS = frozenset({"coffee", "blue", "travel", "weekly", "garden", "wireless"})  # the old generator's WORDS
PLACEHOLDER_FITS = {"blue": ("color", "colour"), "weekly": ("frequency", "recurrence", "interval", "period",
                                                             "cadence", "repeat", "schedule")}
SEARCH_TERM = re.compile(r"(^|_)(q|query|search|keywords?|terms?)$|^text_query$")
EMAIL_KEYS = frozenset({"cc", "bcc", "email_address", "email_addresses"})
PATH_WORDS = frozenset({"path", "paths", "filepath", "filepaths", "dir", "dirs", "directory", "directories",
                        "dirname", "dirpath"})
SORT_WORDS = frozenset({"asc", "desc", "ascending", "descending"})
URL_WORDS = frozenset({"url", "urls", "uri", "uris", "href"})
URI = re.compile(r"^[a-z][a-z0-9+.-]*:\S", re.IGNORECASE)
PHONE = re.compile(r"(^|_)(phone|phones|telephone|tel|mobile|fax|msisdn)(_numbers?)?$")
DATE_WORDS = frozenset({"date", "datetime", "time", "timestamp"})
DATE_NAME = re.compile(r"^(from|to|start|end|due|birth|since|until|min|max)_?(date|time)$|_at$")
ADDRESS_PARTS = {"city": "city", "town": "city", "locality": "city", "state": "state", "state_code": "state_code",
                 "region": "region", "province": "province", "postal_code": "postal_code",
                 "postcode": "postal_code", "post_code": "postal_code", "zip": "zip", "zipcode": "zipcode",
                 "zip_code": "zip", "country": "country", "country_code": "country_code"}
POSTAL_PARTS = frozenset({"postal_code", "zip", "zipcode"})
COUNTRY_PARTS = frozenset({"country", "country_code"})


# ---------------------------------------------------------------------------------------------------------- 4. filler


def _parses_as_time(value: str) -> bool:
    s = value.strip()
    if re.fullmatch(r"\d{9,13}", s):
        return True
    for parse in (datetime.fromisoformat, date.fromisoformat, time.fromisoformat):
        try:
            parse(s)
        except ValueError:
            continue
        return True
    return False


def _is_email_param(key: str, fmt: Any) -> bool:
    ws = key.split("_")
    return fmt in ("email", "idn-email") or ws[-1] in ("email", "emails") or key in EMAIL_KEYS


def _is_path_param(key: str, node: dict[str, Any]) -> bool:
    if key.split("_")[-1] in PATH_WORDS:
        return True
    binary = node.get("format") in ("binary", "byte") or "contentEncoding" in node
    return key in ("file", "files") and not binary


def _is_date_param(key: str, fmt: Any) -> bool:
    return fmt in ("date", "date-time", "time") or key.split("_")[-1] in DATE_WORDS or bool(DATE_NAME.search(key))


def _fits_word(key: str, word: str) -> bool:
    """The two placeholder words that are ordinary values of some parameters: a colour, a frequency."""
    return any(w in PLACEHOLDER_FITS.get(word, ()) for w in key.split("_"))


def misfit(key: str, value: Any, node: dict[str, Any]) -> str | None:
    """Why a string argument is filler or does not fit its parameter (None: it may be fine)."""
    if not isinstance(value, str):
        return None
    k, v = naming.snake(key), value.strip()
    fmt = node.get("format")
    if v.lower() in PLACEHOLDERS and not SEARCH_TERM.search(k) and not _fits_word(k, v.lower()):
        return "placeholder word"
    if _is_email_param(k, fmt) and "@" not in v:
        return "email without @"
    if _is_path_param(k, node) and not re.search(r"[/\\]", v) and v.lower() not in SORT_WORDS:
        return "path without / or \\"
    if (k.split("_")[-1] in URL_WORDS or fmt in ("uri", "url", "iri")) and not URI.match(v):
        return "url without a scheme"
    if PHONE.search(k) and not re.search(r"\d", v):
        return "phone without digits"
    if _is_date_param(k, fmt) and not _parses_as_time(v):
        return "date/time that does not parse"
    return None


def address_groups(value: Any) -> Iterator[dict[str, str]]:
    """Address-like groups under an argument object: parts named as common.locales names them, per key prefix
    (`billing_city`, `billing_zip` form one group)."""
    if isinstance(value, list):
        for v in value:
            yield from address_groups(v)
        return
    if not isinstance(value, dict):
        return
    groups: dict[str, dict[str, str]] = {}
    for key, v in value.items():
        if isinstance(v, dict | list):
            yield from address_groups(v)
            continue
        if not isinstance(v, str | int) or isinstance(v, bool) or not str(v).strip():
            continue
        k = naming.snake(str(key))
        for part in sorted(ADDRESS_PARTS, key=len, reverse=True):
            if k == part or k.endswith("_" + part):
                groups.setdefault(k[:-len(part)], {})[ADDRESS_PARTS[part]] = str(v)
                break
    yield from (g for g in groups.values() if len(g) >= 2)


def filler_values(t: Trajectory) -> Found:
    defs = tool_defs(t)
    found = []
    for call in all_calls(t):
        for key, value, node in call_leaves(call, defs):
            why = misfit(key, value, node) if key else None
            if why:
                found.append(f"{split_qualified(call.name)[1]}.{key}={short(value)}: {why}")
        for group in address_groups(call.arguments):
            postal: dict[str, object] = {k: v for k, v in group.items() if k in POSTAL_PARTS | COUNTRY_PARTS}
            if set(postal) & POSTAL_PARTS and set(postal) & COUNTRY_PARTS and coherent(postal) is False:
                found.append(f"{split_qualified(call.name)[1]}: postal code does not fit its country {postal}")
    return Found(dedupe(found))


# ---------------------------------------------------------------------------------------------------------- 9. values


def _context_text(m: dict[str, Any]) -> str:
    text = text_of(m)
    if m.get("role") == "tool":
        try:
            doc = json.loads(text)
        except ValueError:
            return text
        return text + "\n" + "\n".join(str(v) for _, v, _ in leaves(doc, "", {}, {}) if v is not None)
    return text


def explained(value: Any, node: dict[str, Any], context: str, context_words: str) -> bool | None:
    """Whether lowercase `context` gives the value; None when the value is exempt (booleans, nulls, empty
    strings, one-value enums)."""
    enum = node.get("enum")
    if isinstance(value, bool) or value is None or (isinstance(enum, list) and len(enum) == 1):
        return None
    if isinstance(value, int | float):  # an amount in cents counts when said as the amount (5000 -> 50.00)
        return has_number(value, context) or (isinstance(value, int) and f"{value / 100:.2f}" in context)
    if not isinstance(value, str):
        return None
    low = value.strip().lower()
    if not low:
        return None
    if contains(context, low):
        return True
    if isinstance(enum, list) and value in enum:
        ws = name_words(low)
        return bool(ws) and f" {' '.join(ws)} " in context_words
    d = day_of(low)
    if d is None:
        return False
    day_said = d.isoformat() in context or human_day(d).search(context) is not None
    stamp = ISO_STAMP.match(low)
    return day_said and (stamp is None or time_said(int(stamp.group(4)), int(stamp.group(5)), context))


def unexplained_values(t: Trajectory) -> Found:
    defs = tool_defs(t)
    parts: list[str] = []
    items: list[str] = []
    total = 0
    for m in t.messages:
        calls = list(message_calls(m)) if m.get("role") == "assistant" else []
        if calls:
            context = "\n".join(parts)
            context_words = f" {' '.join(words(context))} "
            for call in calls:
                for key, value, node in call_leaves(call, defs):
                    ok = explained(value, node, context, context_words)
                    if ok is None:
                        continue
                    total += 1
                    if not ok:
                        items.append(f"{split_qualified(call.name)[1]}.{key or '?'}={short(value)}")
        if m.get("role") in ("system", "user", "tool"):
            parts.append(_context_text(m).lower())
    return Found(items, units=total, hits=len(items))


# ---------------------------------------------------------------------------------------------------------- 12. address


def incoherent_addresses(t: Trajectory) -> Found:
    seen: set[tuple[tuple[str, str], ...]] = set()
    items, judged = [], 0
    for call in all_calls(t):
        for group in address_groups(call.arguments):
            key = tuple(sorted(group.items()))
            if "city" not in group or key in seen:
                continue
            seen.add(key)
            verdict = coherent(dict[str, object](group))
            if verdict is None:
                continue
            judged += 1
            if not verdict:
                items.append(f"{split_qualified(call.name)[1]}: {json.dumps(group, ensure_ascii=False)}")
    return Found(items, units=judged, hits=len(items))
