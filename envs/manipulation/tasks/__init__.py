"""Manipulation tasks by name; each module defines one task class."""

from __future__ import annotations

from envs.manipulation.tasks.base import ManipulationTask
from envs.manipulation.tasks.pick_place import PickPlace
from envs.manipulation.tasks.reach import Reach

TASKS: dict[str, type[ManipulationTask]] = {task.name: task for task in (Reach, PickPlace)}


def task_class(name: str) -> type[ManipulationTask]:
    if name not in TASKS:
        raise KeyError(f"unknown manipulation task {name!r}: expected one of {sorted(TASKS)}")
    return TASKS[name]
