"""How a grounded plan is told over the conversation: which steps each user turn asks for (`segment`), and which
stated value the user leaves out at first, to be asked for (`withhold`)."""

from __future__ import annotations

import random

from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.grounded import GroundedPlan
from synthesizer.query.refine import stated_arguments
from synthesizer.task.build import salient


def segment(plan: GroundedPlan, mode: str, rng: random.Random) -> list[list[int]]:
    """Steps per user turn: multi-turn splits the salient steps over 2-3 turns; a lookup goes with its first user."""
    n = len(plan.steps)
    keys = salient(plan)
    if mode != "multi_turn" or len(keys) < 2:
        return [list(range(n))]
    parts = min(len(keys), rng.choice([2, 3]))
    cuts = sorted(rng.sample(range(1, len(keys)), parts - 1))
    groups = [keys[a:b] for a, b in zip([0, *cuts], [*cuts, len(keys)], strict=True)]
    owner = {j: g for g, grp in enumerate(groups) for j in grp}
    for j in reversed(range(n)):
        if j not in owner:
            users = [owner[d] for d in range(j + 1, n) if d in owner and j in plan.skeleton.parents(d)]
            owner[j] = min(users) if users else len(groups) - 1
    return [sorted(j for j in range(n) if owner[j] == g) for g in range(len(groups))]


def withhold(plan: GroundedPlan, tools: dict[str, ToolInfo], rng: random.Random) -> dict[int, tuple[str, ...]]:
    """One stated string value of a salient step (a write when there is one) the user leaves out at first."""
    options = []
    for j in salient(plan):
        for name, value in stated_arguments(plan, j, tools).items():
            if isinstance(value, str) and len(value) >= 2:
                options.append((0 if plan.steps[j].read_only else 1, j, name))
    if not options:
        return {}
    best = max(o[0] for o in options)
    _, j, name = rng.choice([o for o in options if o[0] == best])
    return {j: (name,)}
