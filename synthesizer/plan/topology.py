"""Seeded sampling of plan skeletons (which tools, in what dependency shape) from the tool-link graph.

A skeleton is a small DAG of calls: nodes are namespaced tool names (a tool may appear twice, e.g. two lookups fed
from one list), edges say which output field of an earlier call feeds which parameter of a later one. The five
shapes: `single`; `chain` (each call fed by the one before); `fan_out` (calls that can run in parallel: several
consumers of one producer, or independent calls); `fan_in` (several producers feed one consumer); `dag` (anything
else). Every skeleton contains an *anchor* tool chosen by the schedule (coverage), and parameters that a user could
not state in words (ids) are always fed by an earlier call.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx
from pydantic import BaseModel

from common.errors import EnvfactoryError
from synthesizer.data.records import TopologyKind
from synthesizer.discovery.control import is_control_tool
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.schema import properties, required

TRIES = 40
SIZES = {"chain": (2, 4), "fan_out": (3, 4), "fan_in": (3, 4), "dag": (4, 5)}


class Skeleton(BaseModel):
    nodes: list[str]
    edges: list[tuple[int, int, str, str]] = []  # (src step, dst step, field, param)

    def parents(self, j: int) -> set[int]:
        return {s for s, d, _, _ in self.edges if d == j}

    def children(self, i: int) -> set[int]:
        return {d for s, d, _, _ in self.edges if s == i}

    def feeds(self, j: int) -> list[tuple[int, str, str]]:
        return [(s, f, p) for s, d, f, p in self.edges if d == j]

    def depth(self) -> int:
        longest = [1] * len(self.nodes)
        for j in range(len(self.nodes)):
            for s in self.parents(j):
                longest[j] = max(longest[j], longest[s] + 1)
        return max(longest, default=0)

    def levels(self) -> list[list[int]]:
        """Steps grouped so that each group only needs earlier groups: the parallel batches of an assistant."""
        level = [0] * len(self.nodes)
        for j in range(len(self.nodes)):
            level[j] = max((level[s] + 1 for s in self.parents(j)), default=0)
        return [[j for j in range(len(self.nodes)) if level[j] == k] for k in range(max(level, default=-1) + 1)]


def classify(sk: Skeleton) -> TopologyKind:
    n = len(sk.nodes)
    if n == 1:
        return "single"
    parents = [len(sk.parents(j)) for j in range(n)]
    children = [len(sk.children(i)) for i in range(n)]
    if not sk.edges:
        return "fan_out"  # independent calls
    g: nx.Graph[int] = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((s, d) for s, d, _, _ in sk.edges)
    connected = nx.is_connected(g)
    if max(parents) <= 1 and max(children) <= 1:
        return "chain" if connected else "fan_out"
    if max(parents) <= 1:
        return "fan_out"
    sinks = [j for j in range(n) if children[j] == 0]
    merges = [j for j in range(n) if parents[j] >= 2]
    if max(children) <= 1 and merges == sinks and len(sinks) == 1:
        return "fan_in"
    return "dag"


@dataclass
class ToolCatalog:
    """What the sampler needs to know about every tool, derived once from the tool-link graph."""

    links: nx.DiGraph
    statable: Callable[[str, str], bool]
    tools: dict[str, ToolInfo] = field(default_factory=dict)
    server: dict[str, str] = field(default_factory=dict)
    needs: dict[str, list[str]] = field(default_factory=dict)  # required params that must come from a tool
    optional: dict[str, list[str]] = field(default_factory=dict)  # optional params that could come from a tool
    feeders: dict[tuple[str, str], list[tuple[str, str, float]]] = field(default_factory=dict)
    into: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # (src, dst, param, field) -> member
    control: set[str] = field(default_factory=set)  # tools that control the server (load/reset State): never sampled

    def __post_init__(self) -> None:
        for q in sorted(self.links.nodes):
            tool: ToolInfo = self.links.nodes[q]["tool"]
            self.tools[q] = tool
            self.server[q] = self.links.nodes[q]["server"]
            if is_control_tool(tool.name, tool.description, tool.input_schema):
                self.control.add(q)
            req = set(required(tool.input_schema))
            params = list(properties(tool.input_schema))
            self.needs[q] = [p for p in params if p in req and not self.statable(q, p)]
            self.optional[q] = [p for p in params if p not in req and not self.statable(q, p)]
        for a, b, data in sorted(self.links.edges(data=True), key=lambda e: (e[0], e[1])):
            for lk in data.get("links", []):
                self.feeders.setdefault((b, lk["param"]), []).append((a, lk["field"], float(lk["score"])))
                if lk.get("into"):  # the value goes into a member of a list/object parameter (`[].product_id`)
                    self.into[(a, b, lk["param"], lk["field"])] = lk["into"]
        for key in self.feeders:
            self.feeders[key].sort(key=lambda f: (-f[2], f[0], f[1]))
        self.reachable = self._reachable()

    def _reachable(self) -> set[str]:
        """Tools a plan can contain: every tool-sourced parameter fed by another such tool; control tools never."""
        ok = {q for q, n in self.needs.items() if not n and q not in self.control}
        changed = True
        while changed:
            changed = False
            for q, n in self.needs.items():
                if q not in ok and q not in self.control and all(
                        any(src in ok for src, _, _ in self.feeders.get((q, p), [])) for p in n):
                    ok.add(q)
                    changed = True
        return ok

    @property
    def starts(self) -> list[str]:
        return [q for q in sorted(self.tools) if not self.needs[q] and q not in self.control]

    def field_for(self, src: str, dst: str, param: str) -> str | None:
        cache: dict[tuple[str, str, str], str | None] = self.__dict__.setdefault("_fields", {})
        key = (src, dst, param)
        if key not in cache:
            cache[key] = next((f for s, f, _ in self.feeders.get((dst, param), []) if s == src), None)
        return cache[key]

    def producers_of_all(self, q: str) -> list[str]:
        """Tools that alone feed every tool-sourced required parameter of q."""
        cache: dict[str, list[str]] = self.__dict__.setdefault("_producers", {})
        if q not in cache:
            cache[q] = self._producers_of_all(q)
        return cache[q]

    def _producers_of_all(self, q: str) -> list[str]:
        needs = self.needs[q]
        if not needs:
            return []
        sets = [{s for s, _, _ in self.feeders.get((q, p), []) if s in self.reachable and s != q} for p in needs]
        return sorted(set.intersection(*sets))

    def consumers_of(self, src: str) -> list[tuple[str, list[tuple[str, str]]]]:
        """Tools src can feed alone: all their tool-sourced required params (at least one param) from src."""
        cache: dict[str, list[tuple[str, list[tuple[str, str]]]]] = self.__dict__.setdefault("_consumers", {})
        if src not in cache:
            cache[src] = self._consumers_of(src)
        return cache[src]

    def _consumers_of(self, src: str) -> list[tuple[str, list[tuple[str, str]]]]:
        found = []
        for q in sorted(self.tools):
            if q == src or q in self.control:
                continue
            needs = self.needs[q]
            feeds = [(p, f) for p in needs if (f := self.field_for(src, q, p))]
            if len(feeds) != len(needs):
                continue
            if not feeds:
                feeds = [(p, f) for p in self.optional[q] if (f := self.field_for(src, q, p))][:1]
            if feeds:
                found.append((q, feeds))
        return found


class Sampler:
    """Builds skeletons of a requested shape around an anchor tool; seeded by the caller's rng."""

    def __init__(self, catalog: ToolCatalog, weights: dict[str, float] | None = None, max_servers: int = 3,
                 max_depth: int = 4):
        self.cat = catalog
        self.weights = weights or {}
        self.max_servers = max_servers
        self.max_depth = max_depth

    # --- public -------------------------------------------------------------------------------------------------

    def sample(self, rng: random.Random, kind: str, anchor: str) -> Skeleton | None:
        build = {"single": self._single, "chain": self._chain, "fan_out": self._fan_out, "fan_in": self._fan_in,
                 "dag": self._dag}[kind]
        for _ in range(TRIES):
            try:
                sk = build(rng, anchor)
            except _Dead:
                continue
            if sk is not None and self.acceptable(sk, kind, anchor):
                return sk
        return None

    def acceptable(self, sk: Skeleton, kind: str, anchor: str) -> bool:
        servers = {self.cat.server[q] for q in sk.nodes}
        return (anchor in sk.nodes and classify(sk) == kind and len(servers) <= self.max_servers
                and sk.depth() <= self.max_depth)

    # --- helpers ------------------------------------------------------------------------------------------------

    def _choose(self, rng: random.Random, options: list[str]) -> str:
        if not options:
            raise _Dead
        return rng.choices(options, weights=[self.weights.get(o, 1.0) for o in options])[0]

    def _add(self, sk: Skeleton, q: str, rng: random.Random, single: bool = True, depth: int = 0) -> int:
        """Append q after producers that feed its tool-sourced parameters (reusing earlier steps when they can)."""
        if depth > self.max_depth or q not in self.cat.reachable:
            raise _Dead
        needs = self.cat.needs[q]
        feeds: list[tuple[int, str, str]] = []
        if needs:
            alone = self.cat.producers_of_all(q)
            if single and alone:
                existing = [i for i, n in enumerate(sk.nodes) if n in alone]
                i = rng.choice(existing) if existing else self._add(sk, self._choose(rng, alone), rng, True, depth + 1)
                src = sk.nodes[i]
                feeds = [(i, self.cat.field_for(src, q, p) or "", p) for p in needs]
            else:
                used: set[str] = set()
                for p in needs:
                    options = [s for s, _, _ in self.cat.feeders.get((q, p), []) if s in self.cat.reachable and s != q]
                    fresh = [s for s in options if s not in used] or options
                    src = self._choose(rng, sorted(set(fresh)))
                    existing = [i for i, n in enumerate(sk.nodes) if n == src]
                    i = existing[0] if existing and single else self._add(sk, src, rng, True, depth + 1)
                    used.add(src)
                    feeds.append((i, self.cat.field_for(sk.nodes[i], q, p) or "", p))
        sk.nodes.append(q)
        j = len(sk.nodes) - 1
        sk.edges += [(i, j, f, p) for i, f, p in feeds]
        return j

    def _consume(self, sk: Skeleton, i: int, rng: random.Random, exclude: set[str] | None = None,
                 allow_repeat: bool = False) -> int:
        """Append a consumer fed by step i alone."""
        options = [(q, feeds) for q, feeds in self.cat.consumers_of(sk.nodes[i])
                   if (allow_repeat or q not in sk.nodes) and q not in (exclude or set())]
        if not options:
            raise _Dead
        q = self._choose(rng, [o[0] for o in options])
        feeds = dict(options)[q]
        sk.nodes.append(q)
        j = len(sk.nodes) - 1
        sk.edges += [(i, j, f, p) for p, f in feeds]
        return j

    # --- shapes -------------------------------------------------------------------------------------------------

    def _single(self, rng: random.Random, anchor: str) -> Skeleton | None:
        return Skeleton(nodes=[anchor]) if not self.cat.needs[anchor] else None

    def _chain(self, rng: random.Random, anchor: str) -> Skeleton:
        sk = Skeleton(nodes=[])
        self._add(sk, anchor, rng, single=True)
        lo, hi = SIZES["chain"]
        target = rng.randint(max(lo, len(sk.nodes)), max(hi, len(sk.nodes)))
        while len(sk.nodes) < target:
            try:
                self._consume(sk, len(sk.nodes) - 1, rng)
            except _Dead:
                break
        return sk

    def _fan_out(self, rng: random.Random, anchor: str) -> Skeleton:
        sk = Skeleton(nodes=[])
        variant = rng.choice(["root", "leaf", "independent"])
        if variant == "independent" and not self.cat.needs[anchor]:
            sk.nodes.append(anchor)
            others = [q for q in self.cat.starts if q != anchor]
            for _ in range(rng.randint(1, 2)):
                sk.nodes.append(self._choose(rng, [q for q in others if q not in sk.nodes]))
            return sk
        if variant == "root" and self.cat.consumers_of(anchor):
            root = self._add(sk, anchor, rng)
        else:
            producers = self.cat.producers_of_all(anchor)
            if not producers:
                raise _Dead
            root = self._add(sk, self._choose(rng, producers), rng)
            j = len(sk.nodes)
            sk.nodes.append(anchor)
            sk.edges += [(root, j, self.cat.field_for(sk.nodes[root], anchor, p) or "", p)
                         for p in self.cat.needs[anchor]]
        for _ in range(rng.randint(2, 3) - len(sk.children(root))):
            self._consume(sk, root, rng, allow_repeat=True)
        return sk

    def _fan_in(self, rng: random.Random, anchor: str) -> Skeleton:
        consumer = anchor
        if not self._merges(anchor):
            consumer = self._choose(rng, self._merging_consumers(anchor))
        sk = Skeleton(nodes=[])
        params = self._feedable(consumer)
        chosen: dict[str, int] = {}
        sources: set[str] = set()
        order = list(params)
        rng.shuffle(order)
        for p in order:
            options = [s for s, _, _ in self.cat.feeders.get((consumer, p), [])
                       if s in self.cat.reachable and s != consumer and s not in sources]
            if consumer != anchor and anchor in options and anchor not in sources:
                src = anchor
            elif options:
                src = self._choose(rng, sorted(set(options)))
            elif p in self.cat.needs[consumer]:
                raise _Dead
            else:
                continue
            sources.add(src)
            chosen[p] = self._add(sk, src, rng)
        if len(set(chosen.values())) < 2:
            raise _Dead
        j = len(sk.nodes)
        sk.nodes.append(consumer)
        sk.edges += [(i, j, self.cat.field_for(sk.nodes[i], consumer, p) or "", p) for p, i in chosen.items()]
        return sk

    def _dag(self, rng: random.Random, anchor: str) -> Skeleton:
        if rng.random() < 0.5:
            sk = self._fan_in(rng, anchor)
            self._consume(sk, len(sk.nodes) - 1, rng)
            return sk
        sk = self._fan_out(rng, anchor)
        if len(sk.nodes) < 4:
            self._consume(sk, rng.randrange(len(sk.nodes)), rng, allow_repeat=True)
        return sk

    def _merging_consumers(self, anchor: str) -> list[str]:
        """Tools that anchor feeds and that also take a parameter from another producer."""
        cache: dict[str, list[str]] = self.cat.__dict__.setdefault("_merging", {})
        if anchor not in cache:
            cache[anchor] = sorted(q for q in self.cat.tools if q != anchor and q not in self.cat.control
                                   and self._merges(q) and any(
                s == anchor for p in self._feedable(q) for s, _, _ in self.cat.feeders.get((q, p), [])))
        return cache[anchor]

    def _feedable(self, q: str) -> list[str]:
        return [p for p in self.cat.needs[q] + self.cat.optional[q] if self.cat.feeders.get((q, p))]

    def _merges(self, q: str) -> bool:
        """q can take two parameters from two different producers."""
        cache: dict[str, bool] = self.cat.__dict__.setdefault("_merges", {})
        if q not in cache:
            cache[q] = len(self._feedable(q)) >= 2 and len(self._distinct_producers(q)) >= 2
        return cache[q]

    def _distinct_producers(self, q: str) -> set[str]:
        return {s for p in self._feedable(q) for s, _, _ in self.cat.feeders.get((q, p), [])
                if s in self.cat.reachable and s != q}


class _Dead(EnvfactoryError):
    """This random construction cannot be completed; try again."""
