"""Distractor tools that could be confused with the plan's: a distractor sample is a test only when the extra tools
look like the right ones (another server's `create_meeting` beside the plan's `create_event`), not when they are an
unrelated server's tools nobody would mistake for them.

Similarity of two tools, from their own words: the same kind of operation (a read, a listing, a creation, an
update, a deletion; synonyms count: get/fetch/retrieve, add/create/new), the same resource (`event`/`events`),
shared name tokens, shared description tokens, and the plan tool's resource named in the other's description.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from common import naming
from synthesizer.data.records import qualified, split_qualified
from synthesizer.discovery.control import is_control_tool
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.schema import singular, tokens

VERB_CLASS = {
    **dict.fromkeys("get fetch retrieve read show view describe lookup look open info detail details".split(), "read"),
    **dict.fromkeys("list search query find browse filter all index".split(), "list"),
    **dict.fromkeys("create add new make insert post book reserve schedule register place write upload send compose "
                    "submit start open_new".split(), "create"),
    **dict.fromkeys("update edit modify change set patch rename move reschedule replace toggle assign".split(),
                    "update"),
    **dict.fromkeys("delete remove cancel destroy drop clear archive unassign trash revoke".split(), "delete"),
}
GENERIC = frozenset("return returns list given specified tool tools use used using get gets new one two data "
                    "information info item items result results can will which also more".split())
MIN_SHOWN = 3


@dataclass(frozen=True)
class Profile:
    verb: str | None
    resource: frozenset[str]
    name: frozenset[str]
    description: frozenset[str]


def profile(tool: ToolInfo) -> Profile:
    """What a tool does to what, as word sets (its name split on `_`/`-`/camelCase, plurals made singular)."""
    words = [singular(w) for w in naming.snake(tool.name).split("_") if w]
    verb = next((VERB_CLASS[w] for w in words if w in VERB_CLASS), None)
    resource = frozenset(w for w in words if w not in VERB_CLASS and w not in GENERIC and len(w) > 1)
    desc = frozenset(singular(w) for w in tokens(tool.description or "") if w not in GENERIC and len(w) > 2)
    return Profile(verb=verb, resource=resource, name=frozenset(words), description=desc)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def similarity(a: Profile, b: Profile) -> float:
    """How easily one tool is taken for the other (0: nothing in common)."""
    score = 1.0 if a.verb is not None and a.verb == b.verb else 0.0
    if a.resource and b.resource:
        score += 2.0 * len(a.resource & b.resource) / min(len(a.resource), len(b.resource))
    score += _jaccard(a.name, b.name) + 2.0 * _jaccard(a.description, b.description)
    if b.resource:
        score += 0.5 * len(b.resource & a.description) / len(b.resource)
    if a.resource:
        score += 0.5 * len(a.resource & b.description) / len(a.resource)
    return score


def confusable_distractors(plan_tools: list[str], other_servers: dict[str, list[ToolInfo]], rng: random.Random,
                           n: int, known: Mapping[str, ToolInfo] | None = None) -> list[str]:
    """The tools of one other server to show beside the plan's, the ones most similar to the plan's tools first.

    `plan_tools`: the plan's namespaced tool names (`calendar__create_event`); `known`: namespaced name -> ToolInfo
    for their descriptions (e.g. the run's `ctx.tools`; without it names alone are compared). `other_servers`:
    server -> its tools (raw names, as discovery lists them). Picks the server whose best few tools are most
    similar, returns namespaced names, at most `n` but at least 3 when the server has them (tools that share
    nothing with the plan only fill up to 3). Control tools are never shown as distractors. Ties are broken by
    `rng`, so the result is deterministic given its state. Empty when no other server has a tool."""
    plan = [profile(known[q]) if known is not None and q in known else profile(ToolInfo(name=split_qualified(q)[1]))
            for q in plan_tools]
    if not plan:
        return []
    servers = sorted(other_servers)
    rng.shuffle(servers)
    best: tuple[float, list[tuple[float, str]]] | None = None
    for server in servers:
        tools = [t for t in other_servers[server] if not is_control_tool(t.name, t.description, t.input_schema)]
        if not tools:
            continue
        rng.shuffle(tools)
        scored = []
        for t in tools:
            p = profile(t)
            sims = [similarity(x, p) for x in plan]
            scored.append((max(sims) + 0.2 * sum(sims) / len(sims), qualified(server, t.name)))
        scored.sort(key=lambda x: -x[0])  # stable: shuffled order breaks ties
        strength = sum(s for s, _ in scored[:MIN_SHOWN])
        if best is None or strength > best[0]:
            best = (strength, scored)
    if best is None:
        return []
    scored = best[1]
    keep = max(min(n, len(scored)), min(MIN_SHOWN, len(scored)))
    return [q for i, (s, q) in enumerate(scored[:keep]) if s > 0 or i < MIN_SHOWN]
