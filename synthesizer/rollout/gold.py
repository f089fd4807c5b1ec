"""The gold calls a rollout is checked against: the grounded plan's steps, the salient ones required, and an
argument no user message states left free (its value is not checked)."""

from __future__ import annotations

from synthesizer.data.records import Feed, PlanCall
from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.grounded import GroundedPlan
from synthesizer.query.refine import mentioned
from synthesizer.task.build import salient


def plan_calls(plan: GroundedPlan, tools: dict[str, ToolInfo], said: str) -> list[PlanCall]:
    """The gold calls: required ones are the salient steps; an argument no user message states is free."""
    keys = set(salient(plan))
    out = []
    for j, s in enumerate(plan.steps):
        fed = {f.param for f in plan.feeds[j]}
        free = [k for k, v in s.arguments.items() if k not in fed and not mentioned(v, said)]
        out.append(PlanCall(step=j, server=s.server, tool=s.tool, name=s.name, arguments=s.arguments, output=s.output,
                            depends=[Feed(src=f.src, field=f.field, param=f.param) for f in plan.feeds[j]],
                            free=free, required=j in keys, read_only=s.read_only,
                            turn=0))
    return out
