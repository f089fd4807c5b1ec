"""Requests no shown tool can serve that still sound like the environment's domain, drawn from the run's catalog.

Two sources: (1) things people do with the service's own records that none of its tools does (print, export,
share, translate, remind me...), phrased on its resources; (2) what a tool of another server in the catalog does,
when the shown server has nothing for that resource, the closest ones first. A fixed list is only the last resort
for a catalog of one server whose tools cover every such action.
"""

from __future__ import annotations

import random
import re

from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.distractors import profile, similarity
from synthesizer.task.lexicon import article, operation, plural
from synthesizer.task.say import OPENERS

# action (its verbs, any of which in a tool name or description means the server can do it) -> requests on a noun
BEYOND: list[tuple[tuple[str, ...], list[str]]] = [
    (("print",), ["Could you print out my {noun} so I can take it to the meeting?",
                  "Can you send my {noun} to the printer in the office?"]),
    (("export", "pdf", "download", "csv"), ["Can you export my {nouns} as a PDF for my records?",
                                            "Could you download all my {nouns} into a spreadsheet?"]),
    (("share", "invite", "collaborator"), ["Could you share my {noun} with my sister so she can edit it too?"]),
    (("translate", "language", "locale"), ["Can you translate my {noun} into Japanese for a colleague?"]),
    (("remind", "reminder", "notify", "notification", "alert"), [
        "Could you remind me about my {noun} by text message tomorrow morning?"]),
    (("review", "rating", "rate", "feedback"), ["Can you post a five-star review about my {noun} online?"]),
    (("recommend", "suggest", "similar"), ["What {noun} would you recommend for a beginner like me?"]),
    (("insurance", "warranty"), ["Can you buy travel insurance for my {noun}?"]),
    (("call", "phone", "sms"), ["Could you phone the support team about my {noun} for me?"]),
]
LAST_RESORT = ["What's the weather going to be like in Lisbon tomorrow?",
               "Could you call a taxi to pick me up at the train station?",
               "Can you translate 'good morning, how are you?' into Japanese?"]


def _vocabulary(tools: list[ToolInfo]) -> set[str]:
    return {w for t in tools for w in re.findall(r"[a-z]+", f"{t.name} {t.description}".replace("_", " ").lower())}


def _nouns(tools: list[ToolInfo]) -> list[str]:
    out = []
    for t in tools:
        op = operation(t.name, t.read_only, t.destructive)
        if op.noun and op.noun not in out and len(op.noun.split()) <= 2:
            out.append(op.noun)
    return out


def _from_other_server(tool: ToolInfo) -> str | None:
    op = operation(tool.name, tool.read_only, tool.destructive)
    if not op.noun or op.self_scoped or op.target:
        return None
    if op.kind == "create":
        return f"Could you {op.say[0]} {article(op.noun)} for me?"
    if op.kind in ("list", "search"):
        return f"Can you tell me which {plural(op.noun)} are available?"
    if op.kind == "get":
        return f"Can you look up my {op.noun} for me?"
    return f"Could you {op.say[0]} my {op.noun}?"


def irrelevant_request(shown: list[ToolInfo], others: list[ToolInfo], rng: random.Random) -> str:
    """One request the shown tools cannot serve: about the domain's own records or a neighbouring service's."""
    vocab = _vocabulary(shown)
    nouns = set(_nouns(shown))
    own: list[str] = []
    for verbs, templates in BEYOND:
        if any(v in vocab for v in verbs):
            continue
        for noun in sorted(nouns):
            own += [t.format(noun=noun, nouns=plural(noun)) for t in templates]
    mine = [profile(t) for t in shown]
    ranked = sorted(others, key=lambda t: -max((similarity(profile(t), p) for p in mine), default=0.0))
    foreign = []
    for tool in ranked[:12]:
        op = operation(tool.name, tool.read_only, tool.destructive)
        if op.noun and op.noun.split()[-1] not in {n.split()[-1] for n in nouns}:
            text = _from_other_server(tool)
            if text and text not in foreign:
                foreign.append(text)
    pools = [p for p in (own, foreign) if p]
    text = rng.choice(rng.choice(pools)) if pools else rng.choice(LAST_RESORT)
    return rng.choice(OPENERS) + text
