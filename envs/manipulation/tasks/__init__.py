"""Manipulation tasks by name; each module defines one task class."""

from __future__ import annotations

from envs.manipulation.tasks.base import ManipulationTask
from envs.manipulation.tasks.bimanual_insertion import BimanualInsertion
from envs.manipulation.tasks.bimanual_lift import BimanualLift
from envs.manipulation.tasks.mobile_pick import MobilePick
from envs.manipulation.tasks.peg_insertion import PegInsertion
from envs.manipulation.tasks.pick_place import PickPlace
from envs.manipulation.tasks.reach import Reach
from envs.manipulation.tasks.stack import Stack
from envs.manipulation.tasks.transfer_cube import TransferCube

TASKS: dict[str, type[ManipulationTask]] = {
    task.name: task for task in (Reach, PickPlace, MobilePick, TransferCube, BimanualInsertion, BimanualLift,
                                Stack, PegInsertion)
}


def task_class(name: str) -> type[ManipulationTask]:
    if name not in TASKS:
        raise KeyError(f"unknown manipulation task {name!r}: expected one of {sorted(TASKS)}")
    return TASKS[name]
