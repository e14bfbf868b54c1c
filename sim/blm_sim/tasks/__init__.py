"""The six ManiSkill v1 tabletop tasks, registered by name."""

from __future__ import annotations

from .base import Task
from .lift_peg_upright import LiftPegUpright
from .pick_cube import PickCube
from .place_sphere import PlaceSphere
from .pull_cube import PullCube
from .push_cube import PushCube
from .stack_cube import StackCube

TASKS: dict[str, type[Task]] = {
    t.name: t for t in (PickCube, PushCube, StackCube, PullCube, PlaceSphere, LiftPegUpright)
}
TASK_NAMES = tuple(TASKS)

__all__ = ["Task", "TASKS", "TASK_NAMES", "make_task", *TASK_NAMES]


def make_task(name: str, **kw) -> Task:
    try:
        cls = TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}") from None
    return cls(**kw)
