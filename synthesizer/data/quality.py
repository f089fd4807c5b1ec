"""Data-quality report of a run: how often each known defect of synthesized trajectories occurs, with the ids of the
offending records, so a dataset can be judged on what it would teach (issue 10) and not only on what verified.

It reads only the records (`Trajectory`; `task` is None on records written before tasks existed: then the
task-based classes are n/a, not 0). Words are lowercased tokens `[a-z0-9']+`; a name (tool or parameter, after
`server__`) is split into words on `_`, `-` and camelCase. Every class gives the offending records, the records it
judged, a rate, the first 20 ids and what was found in each. The definitions:

1. pasted_description: a user message contains 6+ consecutive words of the description of a tool in `tools`.
2. tool_name_words: a user message spells a tool name as words: a name of 3+ words as consecutive words (a/an/the
   allowed between them); a 2-word name whose second word is a self-reference (me, my, self, it, this) with an
   article before that word ("get the me", "pull up the me": the bare "get me" is ordinary English and not
   counted); a word of a 1- or 2-word name said twice in a row, once as the verb, stems shared ("checkout
   checkout", "check out a checkout", "search search").
3. raw_param_label: a user message has the words of a parameter name of a called tool (plan or assistant; nested
   keys and 1-word names included) right before that argument's value (quoted or not, after an optional `:`, `=`,
   ` is`, ` of`; a date also in its human form) or right after it as `<value> as the <words>`: `line1 "12 Main
   St"`, `state code "OR"`, `page size 9`, `with 2.51 as the lat`. Not counted: a 1-word name after a determiner
   and before ` is` ("the street is 12 Main St", "my email is ..."), and before the value a name that is a
   preposition unless it follows "with" ("with to EUR" counts, "convert it to EUR" does not).
4. filler_values: a string argument of the plan or the assistant's calls that is one of the old generator's
   placeholder words (coffee, blue, travel, weekly, garden, wireless) where the parameter is not a free search
   term (nor a colour for "blue", a frequency for "weekly"), or does not fit its parameter: an email-like
   parameter (email, *_email, cc, bcc, format email) without `@`; a path/file/dir parameter without `/` or `\\`;
   a url/uri parameter without a scheme (`://`, or a URI scheme such as `spotify:` or `mailto:`); a phone
   parameter without digits; a date/time parameter (format or name) that does not parse as ISO 8601 or epoch
   seconds; a postal code that does not fit the country of its argument group (common/locales.py `coherent`).
5. ambiguous_reference: a task reference whose `match` fits more than one record of its `collection` in
   `initial_states[server]` (recomputed; `candidates` is not trusted). Fields compare case-insensitively, a
   `YYYY-MM-DD` value matches a timestamp of that day.
6. post_write_reference: a task reference whose `match` fits no record of the initial State.
7. readback: a required read-only plan call fed (`depends`) from a write of the same plan.
8. glued_servers: a plan over 2+ servers with no dependency edge between steps of different servers (judged
   over multi-server plans).
9. unexplained_values: scalar leaves of the assistant's call arguments that appear in no earlier user message,
   tool result or the system prompt (case-insensitive, whole words at the value's edges; numbers as a token; a
   date when its ISO form or its human form "March 2" appears, a date-time also needs its time ("16:30",
   "4:30 pm") unless midnight; an enum value when its words appear; booleans, nulls, empty strings and one-value
   enums exempt). The rate is unexplained values / all values; `records` counts the records affected.
10. lookup_unreported: a lookup (task `lookup_only`, or without a task a plan with no write; irrelevance and
    missing-info samples excluded) whose answers (the final one, and in multi-turn conversations the answer to
    every turn) contain no value of any tool result that the user had not already said (strings of 3+ characters,
    numbers), no item count of a listed result ("3 flights"), and do not say that nothing was found where a result
    came back empty (an empty list, no values); and a normal or distractor sample whose answers miss a
    `communicate_info` fact (its `said` or `value`; a count of 0 also as "no ...", "didn't find any").
11. openings: distinct four-word openings of first user messages (and per 300 records: the mean over blocks of 300
    consecutive records, linearly scaled in runs under 300), the share of final answers covered by their five most
    common four-word openings, exact duplicate first messages, first message words (mean, p50, p90), user turns
    (mean).
12. incoherent_addresses: address-like argument groups (a city with a state/region/province, postal code or
    country, keys possibly prefixed as `billing_city`) whose parts disagree by common/locales.py `coherent`; the
    rate is incoherent / judged groups (`coherent` None: not judged).
13. canned later turns: the share of later user messages that start with their most common three words.

The detectors are small functions (a record in, what was found out) in quality_text (1-3), quality_values (4, 9,
12) and quality_task (5-8, 10), over the readers of quality_read; this module tallies them over a stream of records.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable

from pydantic import BaseModel, Field

from synthesizer.data.quality_read import Found, final_answer, user_texts, words
from synthesizer.data.quality_task import (
    ambiguous_reference,
    glued_servers,
    lookup_unreported,
    post_write_reference,
    readback,
)
from synthesizer.data.quality_text import pasted_description, raw_param_label, tool_name_words
from synthesizer.data.quality_values import filler_values, incoherent_addresses, unexplained_values
from synthesizer.data.records import Trajectory

MAX_IDS = 20
OPENING_WORDS = 4
CANNED_WORDS = 3
TOP_ANSWERS = 5
PER = 300  # distinct openings are reported per this many records

CLASSES: dict[str, str] = {
    "pasted_description": "tool description text in a user message",
    "tool_name_words": "tool names spelled as words",
    "raw_param_label": "raw parameter names as labels",
    "filler_values": "filler or ill-fitting argument values",
    "ambiguous_reference": "references fitting 2+ records",
    "post_write_reference": "references fitting no initial record",
    "readback": "read-backs of the plan's own writes",
    "glued_servers": "servers glued without a dependency",
    "unexplained_values": "argument values from nowhere",
    "lookup_unreported": "answers that report nothing found",
    "incoherent_addresses": "addresses whose parts disagree",
}
VALUE_RATED = frozenset({"unexplained_values", "incoherent_addresses"})  # rate over values / addresses, not records
TASK_BASED = frozenset({"ambiguous_reference", "post_write_reference"})


class Defect(BaseModel):
    """One defect class. `records` offending of `of` judged (None: n/a); `rate` is records / of, or for the
    value-rated classes `unit_hits` / `units` (values or addresses); `examples` says what was found per id."""

    name: str
    label: str
    records: int | None = 0
    of: int = 0
    rate: float | None = None
    units: int | None = None
    unit_hits: int | None = None
    ids: list[str] = Field(default_factory=list)  # the first MAX_IDS offending records
    examples: dict[str, list[str]] = Field(default_factory=dict)
    note: str = ""


class Openings(BaseModel):
    first_messages: int = 0
    distinct_openings: int = 0  # distinct first four words of first user messages
    distinct_per_300: float = 0.0
    answers: int = 0  # final answers
    answer_top5_share: float | None = None  # share of final answers opening with one of their 5 commonest openings
    answer_top5: list[str] = Field(default_factory=list)
    duplicate_first_messages: int = 0  # records whose first message an earlier record already had
    duplicate_rate: float = 0.0
    duplicate_ids: list[str] = Field(default_factory=list)
    first_words_mean: float = 0.0
    first_words_p50: float = 0.0
    first_words_p90: float = 0.0
    turns_mean: float = 0.0
    later_turns: int = 0  # user messages after the first
    canned_share: float | None = None  # share of later turns starting with their most common three words
    canned_phrase: str = ""


class QualityReport(BaseModel):
    records: int = 0
    defects: dict[str, Defect] = Field(default_factory=dict)
    openings: Openings = Field(default_factory=Openings)


DETECTORS: dict[str, Callable[[Trajectory], Found | None]] = {
    "pasted_description": pasted_description, "tool_name_words": tool_name_words,
    "raw_param_label": raw_param_label, "filler_values": filler_values,
    "ambiguous_reference": ambiguous_reference, "post_write_reference": post_write_reference,
    "readback": readback, "glued_servers": glued_servers, "unexplained_values": unexplained_values,
    "lookup_unreported": lookup_unreported, "incoherent_addresses": incoherent_addresses,
}


# ---------------------------------------------------------------------------------------------------------- tally


class _DefectTally:
    def __init__(self, name: str) -> None:
        self.defect = Defect(name=name, label=CLASSES[name])
        self.offending = 0
        self.judged = 0
        self.units = 0
        self.hits = 0

    def add(self, record_id: str, found: Found | None) -> None:
        if found is None:
            return
        self.judged += 1
        self.units += found.units
        self.hits += found.hits
        if found.items:
            self.offending += 1
            if len(self.defect.ids) < MAX_IDS:
                self.defect.ids.append(record_id)
                self.defect.examples[record_id] = found.items[:5]

    def report(self, n: int, had_task: int) -> Defect:
        d = self.defect.model_copy()
        name = d.name
        if name in TASK_BASED and had_task == 0 and n:
            return d.model_copy(update={"records": None, "of": 0, "note": "n/a: no record has a task"})
        d.records, d.of = self.offending, self.judged
        if name in VALUE_RATED:
            d.units, d.unit_hits = self.units, self.hits
            d.rate = self.hits / self.units if self.units else None
        else:
            d.rate = self.offending / self.judged if self.judged else None
        return d


def per_block(openings: list[tuple[str, ...]]) -> float:
    """Distinct openings per PER records: the mean over consecutive blocks of PER records (a distinct count grows
    slower than the records, so 500 records are not scaled down to 300), linearly scaled below PER records."""
    n = len(openings)
    if n < PER:
        return len(set(openings)) * PER / n if n else 0.0
    blocks = [openings[i:i + PER] for i in range(0, n - PER + 1, PER)]
    return sum(len(set(b)) for b in blocks) / len(blocks)


def _percentile(values: list[int], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


class _OpeningTally:
    def __init__(self) -> None:
        self.openings: list[tuple[str, ...]] = []  # per record, in order (distinct counts per block of PER)
        self.messages: set[str] = set()
        self.duplicates: list[str] = []
        self.answers: Counter[tuple[str, ...]] = Counter()
        self.first_words: list[int] = []
        self.turns = 0
        self.later: Counter[tuple[str, ...]] = Counter()
        self.later_n = 0

    def add(self, t: Trajectory) -> None:
        users = user_texts(t) or [t.query]
        first = users[0]
        ws = words(first)
        self.first_words.append(len(ws))
        self.openings.append(tuple(ws[:OPENING_WORDS]))
        key = first.strip()
        if key in self.messages:
            self.duplicates.append(t.id)
        self.messages.add(key)
        self.turns += t.turns
        answer = words(final_answer(t))
        if answer:
            self.answers[tuple(answer[:OPENING_WORDS])] += 1
        for text in users[1:]:
            self.later_n += 1
            self.later[tuple(words(text)[:CANNED_WORDS])] += 1

    def report(self, n: int) -> Openings:
        n_answers = sum(self.answers.values())
        top = self.answers.most_common(TOP_ANSWERS)
        canned = self.later.most_common(1)
        return Openings(
            first_messages=n, distinct_openings=len(set(self.openings)), distinct_per_300=per_block(self.openings),
            answers=n_answers,
            answer_top5_share=sum(c for _, c in top) / n_answers if n_answers else None,
            answer_top5=[" ".join(k) for k, _ in top], duplicate_first_messages=len(self.duplicates),
            duplicate_rate=len(self.duplicates) / n if n else 0.0, duplicate_ids=self.duplicates[:MAX_IDS],
            first_words_mean=sum(self.first_words) / n if n else 0.0,
            first_words_p50=_percentile(self.first_words, 0.5), first_words_p90=_percentile(self.first_words, 0.9),
            turns_mean=self.turns / n if n else 0.0, later_turns=self.later_n,
            canned_share=canned[0][1] / self.later_n if canned and self.later_n else None,
            canned_phrase=" ".join(canned[0][0]) if canned else "")


class QualityTally:
    """Running quality counts over streamed records; `report` gives the QualityReport."""

    def __init__(self) -> None:
        self.n = 0
        self.with_task = 0
        self.defects = {name: _DefectTally(name) for name in DETECTORS}
        self.openings = _OpeningTally()

    def add(self, t: Trajectory) -> None:
        self.n += 1
        self.with_task += t.task is not None
        for name, detect in DETECTORS.items():
            self.defects[name].add(t.id, detect(t))
        self.openings.add(t)

    def report(self) -> QualityReport:
        return QualityReport(records=self.n,
                             defects={k: v.report(self.n, self.with_task) for k, v in self.defects.items()},
                             openings=self.openings.report(self.n))


def quality_report(records: Iterable[Trajectory]) -> QualityReport:
    tally = QualityTally()
    for t in records:
        tally.add(t)
    return tally.report()


# ---------------------------------------------------------------------------------------------------------- rendering


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.1f}%"


def defect_cells(d: Defect) -> tuple[str, str]:
    """(`3/120`, `2.5%`): offending / judged records and the rate; for the value-rated classes the rate is over
    values or addresses (`2.1% of 340 values`); `n/a` when not judged."""
    if d.records is None:
        return "n/a", ""
    if d.name in VALUE_RATED:
        unit = "values" if d.name == "unexplained_values" else "addresses"
        return f"{d.records}/{d.of}", f"{_pct(d.rate)} of {d.units} {unit}"
    return f"{d.records}/{d.of}", _pct(d.rate)


def defect_rows(report: QualityReport, ids: int = 1) -> list[tuple[str, str, str, str]]:
    """(class, records, rate, first ids) per defect class."""
    rows = []
    for d in report.defects.values():
        more = f" +{d.records - ids}" if d.records is not None and d.records > ids else ""
        rows.append((d.name, *defect_cells(d), ", ".join(d.ids[:ids]) + more))
    return rows


def opening_rows(report: QualityReport) -> list[tuple[str, str]]:
    o = report.openings
    return [
        ("distinct 4-word openings",
         f"{o.distinct_openings} of {o.first_messages} ({o.distinct_per_300:.0f} per {PER})"),
        ("answers in top-5 openings", f"{_pct(o.answer_top5_share)} of {o.answers}"),
        ("duplicate first messages", f"{o.duplicate_first_messages} ({_pct(o.duplicate_rate)})"),
        ("first message words", f"mean {o.first_words_mean:.1f}, p50 {o.first_words_p50:.0f}, "
                                f"p90 {o.first_words_p90:.0f}"),
        ("user turns", f"mean {o.turns_mean:.2f}"),
        ("canned later turns", f"{_pct(o.canned_share)} of {o.later_turns}"
         + (f" start {o.canned_phrase!r}" if o.canned_phrase else "")),
    ]
