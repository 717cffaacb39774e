"""ManipulationTask: the objects a task adds to the scene, how an episode starts, and what success means."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.manipulation.scene import SceneObject, Workspace
from envs.manipulation.state import ManipulationState


@dataclass(frozen=True)
class Placement:
    """One episode's start: free objects' poses (position, quaternion) and fixture/marker positions, by name,
    and the goal position."""

    poses: dict[str, tuple[np.ndarray, np.ndarray]]
    goal: np.ndarray


class ManipulationTask:
    name: str
    robot_types: tuple[str, ...]  # EmbodimentConfig.robot_type values the task is built for
    instruction: str
    reward_weights: dict[str, float]  # per simulated second; names from REWARD_TERMS, plus "success"
    objects: tuple[SceneObject, ...]
    episode_length_s: float = 10.0  # the environment's default for this task: its expert's time with margin

    def place(self, rng: np.random.Generator, workspace: Workspace) -> Placement:
        raise NotImplementedError

    def goal_position(self, object_pos: np.ndarray, placed_goal: np.ndarray) -> np.ndarray:
        """(N, 3) goal given the objects' (N, K, 3) positions; most tasks keep the goal placed at reset."""
        return placed_goal

    def success(self, s: ManipulationState) -> np.ndarray:
        raise NotImplementedError

    def metrics(self, s: ManipulationState, i: int) -> dict:
        """Robot i's end-of-episode measurements (the seed's evaluator reports position error)."""
        return {}

    def on_table(self, obj: SceneObject, xy: np.ndarray, workspace: Workspace, yaw: float = 0.0):
        return (
            np.array([xy[0], xy[1], workspace.table_z + obj.bottom_offset_m]),
            np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]),
        )
