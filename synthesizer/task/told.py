"""A task as it is told: how each salient step is asked for. Made by `task.build`, read by `task.say` and the
offline roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synthesizer.data.records import Task
from synthesizer.task.lexicon import Operation


@dataclass
class StepTask:
    """How one salient step is asked for: what it does, to which reference, with which stated facts."""

    step: int
    op: Operation
    ref: int | None  # index into task.references of the record it acts on
    made_from: int | None  # the earlier step that created the record it acts on ("the new playlist")
    facts: list[int]  # indices into task.known_info (stated values) of this step
    told: list[int]  # indices into task.communicate_info (what it must report)


@dataclass
class Told:
    task: Task
    steps: dict[int, StepTask]  # salient step -> how it is asked
    salient: list[int]
    excerpt: list[dict[str, Any]] = field(default_factory=list)  # the State records the task involves
