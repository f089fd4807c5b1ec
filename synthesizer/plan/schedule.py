"""What each sample index is asked to be, and whether a sampled plan skeleton can be it.

`Schedule` draws, in index order, a sample kind, a conversation mode, a plan shape and an anchor tool per index;
`sample_skeleton` samples that shape around the anchor (or, once the early attempts are spent, any shape that fits);
`unfit` says from the schemas alone, before any call, why a skeleton cannot serve the mode or kind.
"""

from __future__ import annotations

import random
from typing import TypeVar

from pydantic import BaseModel

from synthesizer.data.records import Mode, SampleKind
from synthesizer.plan.schema import main_type, properties, required, resolve
from synthesizer.plan.topology import Sampler, Skeleton, ToolCatalog

KIND_WEIGHTS: dict[SampleKind, float] = {"normal": 0.64, "distractors": 0.12, "irrelevance": 0.12, "missing_info": 0.12}
MODE_WEIGHTS: dict[Mode, float] = {"single_turn": 0.5, "multi_turn": 0.25, "clarification": 0.25}
TOPOLOGY_WEIGHTS = {"single": 0.14, "chain": 0.34, "fan_out": 0.2, "fan_in": 0.16, "dag": 0.16}
K = TypeVar("K", bound=str)  # the keys of a weights table: a Literal alias or plain names
FALLBACK = ("chain", "single", "fan_out", "fan_in", "dag")


class Planned(BaseModel):
    """What the schedule asks of an index (the sample may fall back to another shape or mode when it must)."""

    kind: SampleKind
    mode: Mode
    topology: str
    anchor: str


def weighted(rng: random.Random, weights: dict[K, float]) -> K:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Schedule:
    """Per-index targets, computed in index order so they never depend on which rollouts finished first.

    The anchor tool is drawn with weight 1/(1+uses)^2, so under-sampled tools come first and coverage grows evenly."""

    def __init__(self, catalog: ToolCatalog, seed: int, sampler: Sampler | None = None, probes: int = 4):
        self.catalog = catalog
        self.seed = seed
        self.items: list[Planned] = []
        self.uses: dict[str, int] = dict.fromkeys(sorted(catalog.reachable), 0)
        self.feasible = self._probe(sampler or Sampler(catalog), probes)
        share = {k: sum(k in f for f in self.feasible.values()) / max(len(self.feasible), 1)
                 for k in TOPOLOGY_WEIGHTS}
        # a shape few tools can take is asked for more often when the anchor can take it: the mix stays balanced
        self.boost = {k: TOPOLOGY_WEIGHTS[k] / share[k] if share[k] else 0.0 for k in TOPOLOGY_WEIGHTS}

    def _probe(self, sampler: Sampler, probes: int) -> dict[str, list[str]]:
        """Which shapes each tool can anchor (seeded tries); never empty for a reachable tool (chain/fan-out)."""
        out: dict[str, list[str]] = {}
        for q in self.uses:
            kinds = [k for k in TOPOLOGY_WEIGHTS if any(
                sampler.sample(random.Random(f"envfactory/probe:{self.seed}:{q}:{k}:{i}"), k, q)
                for i in range(probes))]
            out[q] = kinds or ["chain"]
        return out

    def item(self, index: int) -> Planned:
        while len(self.items) <= index:
            i = len(self.items)
            rng = random.Random(f"envfactory/schedule:{self.seed}:{i}")
            kind = weighted(rng, KIND_WEIGHTS)
            mode: Mode = "single_turn" if kind in ("irrelevance", "missing_info") else weighted(rng, MODE_WEIGHTS)
            names = list(self.uses)
            anchor = rng.choices(names, weights=[1.0 / (1 + self.uses[n]) ** 2 for n in names])[0] if names else ""
            topology = "chain"
            if anchor:
                self.uses[anchor] += 1
                topology = weighted(rng, {k: self.boost[k] for k in self.feasible[anchor]})
            self.items.append(Planned(kind=kind, mode=mode, topology=topology, anchor=anchor))
        return self.items[index]


def sample_skeleton(sampler: Sampler, rng: random.Random, planned: Planned, anchor: str,
                    strict: bool) -> Skeleton | None:
    """The planned shape around the anchor; once the early attempts are spent, any shape that fits."""
    kinds = [planned.topology] if strict else [planned.topology, *[k for k in FALLBACK if k != planned.topology]]
    for kind in kinds:
        sk = sampler.sample(rng, kind, anchor)
        if sk is not None:
            return sk
    return None


def unfit(catalog: ToolCatalog, sk: Skeleton, mode: str, kind: str) -> str | None:
    """Why a skeleton cannot serve the planned mode or kind (judged from the schemas, before the dry run)."""
    servers = {catalog.server[q] for q in sk.nodes}
    if len(servers) > 1:  # one goal per request: several servers only when an entity links them
        linked = {catalog.server[sk.nodes[a]] for a, b, *_ in sk.edges if catalog.server[sk.nodes[a]]
                  != catalog.server[sk.nodes[b]]} | {catalog.server[sk.nodes[b]] for a, b, *_ in sk.edges
                                                     if catalog.server[sk.nodes[a]] != catalog.server[sk.nodes[b]]}
        if linked != servers:
            return "servers glued without a link"
    keys = [j for j, q in enumerate(sk.nodes) if not catalog.tools[q].read_only or not sk.children(j)]
    if mode == "multi_turn" and len(keys) < 2:
        return "plan too small for several turns"
    if mode == "clarification" or kind == "missing_info":
        for j in keys:
            tool = catalog.tools[sk.nodes[j]]
            fed = {p for _, _, p in sk.feeds(j)}
            props = properties(tool.input_schema)
            if any(p not in fed and catalog.statable(sk.nodes[j], p)
                   and main_type(resolve(props.get(p, {}), tool.input_schema)) == "string"
                   for p in required(tool.input_schema)):
                return None
        return "nothing the user could leave out"
    return None
