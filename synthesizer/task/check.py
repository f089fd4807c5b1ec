"""Deterministic checks of a user message against its task: every fact and reference it should carry is there,
nothing held back is given away. The refiner rewrites a draft until these (and the leak checks) pass."""

from __future__ import annotations

from synthesizer.task.told import Told


def task_problems(text: str, told: Told, steps: list[int], first: bool) -> list[str]:
    low = text.lower()
    problems: list[str] = []
    task = told.task
    for j in steps:
        st = told.steps.get(j)
        if st is None:
            continue
        for i in st.facts:
            f = task.known_info[i]
            if f.said and f.said.lower() not in low:
                problems.append(f"does not say the {f.slot} ({f.said})")
        if j in told.salient and st.ref is not None and first:
            ref = task.references[st.ref]
            if ref.said.lower() not in low:
                problems.append(f"does not name the {ref.entity} ({ref.said})")
    if first:
        for f in task.held_back:
            if f.said and len(f.said) > 2 and f.said.lower() in low:
                problems.append(f"gives away the {f.slot} the user should only say when asked")
    return problems
