"""Defects of the user messages (quality classes 1-3): pasted tool descriptions, tool names spelled as words, raw
parameter names used as labels. Definitions: synthesizer/data/quality.py."""

from __future__ import annotations

import json
import re
from typing import Any

from synthesizer.data.quality_read import (
    Found,
    all_calls,
    call_leaves,
    day_of,
    dedupe,
    human_day,
    name_words,
    number_text,
    tool_defs,
    user_texts,
    words,
)
from synthesizer.data.records import Trajectory

PASTE_WORDS = 6
ARTICLES = frozenset({"a", "an", "the"})
SELF_WORDS = frozenset({"me", "my", "self", "it", "this"})
DETERMINERS = frozenset({"my", "the", "our", "your", "his", "her", "their", "its", "a", "an"})
PREPOSITIONS = frozenset({"to", "from", "by", "in", "at", "on", "for", "with", "since", "until", "before", "after",
                          "into", "via", "near", "of", "over", "under"})
QUOTE = r"[\"'“”‘’«»`]?"


# ---------------------------------------------------------------------------------------------------------- 1. pasted


def pasted_description(t: Trajectory) -> Found:
    grams: dict[tuple[str, ...], str] = {}
    for tool in tool_defs(t).values():
        ws = words(tool.description)
        for i in range(len(ws) - PASTE_WORDS + 1):
            grams.setdefault(tuple(ws[i:i + PASTE_WORDS]), tool.name)
    found = []
    for text in user_texts(t):
        ws = words(text)
        i = 0
        while i <= len(ws) - PASTE_WORDS:
            owner = grams.get(tuple(ws[i:i + PASTE_WORDS]))
            if owner is None:
                i += 1
                continue
            end = i + PASTE_WORDS  # extend over overlapping grams: report the whole pasted run once
            while end < len(ws) and grams.get(tuple(ws[end - PASTE_WORDS + 1:end + 1])) is not None:
                end += 1
            found.append(f"{owner}: {' '.join(ws[i:end])}")
            i = end
    return Found(dedupe(found))


# ---------------------------------------------------------------------------------------------------------- 2. names


def stem(word: str) -> str:
    word = word.removesuffix("'s")
    for suffix in ("ings", "ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[:-len(suffix)]
    return word


def _consecutive(ws: list[str], text_words: str) -> bool:
    body = re.escape(ws[0]) + "".join(rf"(?: (?:a|an|the))? {re.escape(w)}" for w in ws[1:])
    return re.search(rf"(?:^| ){body}(?= |$)", text_words) is not None


def _doubled(word: str, ws: list[str]) -> str | None:
    """'checkout checkout', 'check out a checkout', 'search search': the word once as the verb, once as the noun."""
    s = stem(word)
    for i in range(len(ws)):
        for span in (1, 2):
            j = i + span
            if j > len(ws) or stem("".join(ws[i:j])) != s:
                continue
            k = j + 1 if j < len(ws) and ws[j] in ARTICLES else j
            if k < len(ws) and stem(ws[k]) == s:
                return " ".join(ws[i:k + 1])
    return None


def spelled_name(name: str, text: str) -> str | None:
    """The words of `text` that spell tool `name`, if any (see the module docstring, class 2)."""
    nw = name_words(name)
    ws = words(text)
    joined = " ".join(ws)
    if len(nw) >= 3:
        return " ".join(nw) if _consecutive(nw, joined) else None
    if len(nw) == 2 and nw[1] in SELF_WORDS:
        m = re.search(rf"\b(?:[Aa]n?|[Tt]he) {nw[1]}(?![\w-])", text)
        if m:
            return m.group(0).lower()
    for word in nw:
        hit = _doubled(word, ws)
        if hit:
            return hit
    return None


def tool_name_words(t: Trajectory) -> Found:
    found = []
    for name in tool_defs(t):
        for text in user_texts(t):
            hit = spelled_name(name, text)
            if hit:
                found.append(f"{name}: {hit}")
    return Found(dedupe(found))


# ---------------------------------------------------------------------------------------------------------- 3. labels


def _label(key: str) -> str:
    pieces = [p for w in name_words(key) for p in re.findall(r"[a-z]+|\d+", w)]
    return r"[\s_-]*".join(re.escape(p) for p in pieces)


def _value_patterns(value: Any) -> list[str]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [rf"{re.escape(number_text(value))}(?!\.?\d)"]
    if not isinstance(value, str) or not value.strip():
        return []
    low = value.strip().lower()
    end = r"(?![a-z0-9])" if re.search(r"[a-z0-9]$", low) else ""
    out = [re.sub(r"\\\s+", r"\\s+", re.escape(low)) + end]
    d = day_of(low)
    if d is not None:
        out.append(human_day(d).pattern.replace(r"\b", "", 1))
    return out


def labelled(key: str, value: Any, text: str) -> str | None:
    """The phrase of lowercase `text` that labels `value` with the words of parameter `key`: before it
    (`page size 9`) or after it (`2.51 as the lat`)."""
    label = _label(key)
    if not label:
        return None
    one_word = len(name_words(key)) == 1
    before = r"(?<![a-z0-9])with\s+" if one_word and name_words(key)[0] in PREPOSITIONS else r"(?<![a-z0-9'])"
    for vp in _value_patterns(value):
        pattern = rf"{before}{label}(\s*[:=]\s*|\s+(?:is|of)\s+|\s+){QUOTE}(?:{vp})"
        for m in re.finditer(pattern, text):
            if one_word and m.group(1).strip() == "is":
                prev = words(text[:m.start()])[-1:]
                if prev and prev[0] in DETERMINERS:
                    continue
            return m.group(0)
        after = re.search(rf"(?<![a-z0-9]){QUOTE}(?:{vp}){QUOTE}\s+as\s+(?:(?:the|a|an|its|my|your)\s+)?{label}"
                          r"(?![a-z0-9])", text)
        if after:
            return after.group(0)
    return None


def raw_param_label(t: Trajectory) -> Found:
    defs = tool_defs(t)
    pairs = {(key, json.dumps(value)): value for call in all_calls(t) for key, value, _ in call_leaves(call, defs)
             if key}
    texts = [text.lower() for text in user_texts(t)]
    found = []
    for (key, _), value in pairs.items():
        for text in texts:
            hit = labelled(key, value, text)
            if hit:
                found.append(f"{key}: {hit}")
                break
    return Found(dedupe(found))
