"""Named reward terms for manipulation (Isaac Lab's lift/reach terms: bounded tanh kernels, small penalties).

Each term maps a ManipulationState to (N,) unweighted values; a task's weights (rates per
simulated second) say which it uses. "Object" means the task's first object; the gripper
term uses the gripper nearest to it, so dual-arm tasks can share the terms.
"""

from __future__ import annotations

import numpy as np

from envs.manipulation.state import ManipulationState

COARSE_M = 0.1  # tanh kernel widths: coarse terms pull from afar, fine terms reward the last centimetres
FINE_M = 0.02
LIFT_CLEARANCE_M = 0.03
# Wide enough to pull from a mobile base's start, over a metre from its object, where the coarse kernel is ~0.
APPROACH_M = 1.0


def _kernel(distance: np.ndarray, width: float) -> np.ndarray:
    return 1.0 - np.tanh(distance / width)


def ee_goal_distance(s: ManipulationState) -> np.ndarray:
    return np.linalg.norm(s.ee_pos - s.goal_pos[:, None], axis=-1).min(axis=1)


def object_goal_distance(s: ManipulationState) -> np.ndarray:
    return np.linalg.norm(s.object_pos[:, 0] - s.goal_pos, axis=-1)


def ee_object_distance(s: ManipulationState) -> np.ndarray:
    return np.linalg.norm(s.ee_pos - s.object_pos[:, :1], axis=-1).min(axis=1)


def reach_goal(s: ManipulationState) -> np.ndarray:
    return _kernel(ee_goal_distance(s), COARSE_M)


def reach_goal_fine(s: ManipulationState) -> np.ndarray:
    return _kernel(ee_goal_distance(s), FINE_M)


def approach_goal(s: ManipulationState) -> np.ndarray:
    """reach_goal's pull from afar: the coarse kernel is ~0 beyond 0.3 m, where a reach starts (no task weights it;
    reward_weights turns it on)."""
    return _kernel(ee_goal_distance(s), APPROACH_M)


def reach_object(s: ManipulationState) -> np.ndarray:
    return _kernel(ee_object_distance(s), COARSE_M)


def approach_object(s: ManipulationState) -> np.ndarray:
    return _kernel(ee_object_distance(s), APPROACH_M)


def object_lifted(s: ManipulationState) -> np.ndarray:
    """1 while the object is off the table and held: lifting is the step between grasping and placing."""
    return ((~s.table_contact[:, 0]) & s.holding[:, :, 0].any(axis=1)).astype(np.float64)


def objects_lifted(s: ManipulationState) -> np.ndarray:
    """Fraction of the task's objects off the table and held: one part per arm in bimanual assembly (a marker
    is never held, so a task using this term has none)."""
    return ((~s.table_contact) & s.holding.any(axis=1)).mean(axis=1)


def held_by_both(s: ManipulationState) -> np.ndarray:
    """1 while every gripper holds the object: a load carried with two hands."""
    return s.holding[:, :, 0].all(axis=1).astype(np.float64)


def handed_over(s: ManipulationState) -> np.ndarray:
    """1 while the first (left) gripper holds the object and no other does: where a handover ends."""
    return (s.holding[:, 0, 0] & ~s.holding[:, 1:, 0].any(axis=1)).astype(np.float64)


def object_tilt(s: ManipulationState) -> np.ndarray:
    """Angle (rad) between the object's z axis and the vertical: a penalty for a load that should stay level."""
    x, y = s.object_quat[:, 0, 1], s.object_quat[:, 0, 2]
    return np.arccos(np.clip(1.0 - 2.0 * (x * x + y * y), -1.0, 1.0))


def object_goal(s: ManipulationState) -> np.ndarray:
    return _kernel(object_goal_distance(s), 3 * COARSE_M)


def object_goal_fine(s: ManipulationState) -> np.ndarray:
    return _kernel(object_goal_distance(s), FINE_M)


def action_rate(s: ManipulationState) -> np.ndarray:
    return np.mean(np.square(s.action - s.prev_action), axis=1)


def joint_velocity(s: ManipulationState) -> np.ndarray:
    return np.mean(np.square(s.joint_vel), axis=1)


REWARD_TERMS = {
    "reach_goal": reach_goal,
    "reach_goal_fine": reach_goal_fine,
    "approach_goal": approach_goal,
    "reach_object": reach_object,
    "approach_object": approach_object,
    "object_lifted": object_lifted,
    "objects_lifted": objects_lifted,
    "held_by_both": held_by_both,
    "handed_over": handed_over,
    "object_tilt": object_tilt,
    "object_goal": object_goal,
    "object_goal_fine": object_goal_fine,
    "action_rate": action_rate,
    "joint_velocity": joint_velocity,
}
