"""ManipulationState: what reward, success and observation terms read after a control step, batched."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ManipulationState:
    ee_pos: np.ndarray  # (N, E, 3) grasp-centre sites, world frame
    ee_rot: np.ndarray  # (N, E, 3, 3) their orientations; column 2 is the approach axis
    opening: np.ndarray  # (N, E) measured gripper openings, 0 closed .. 1 open
    object_pos: np.ndarray  # (N, K, 3) the task's objects, in the task's order
    object_quat: np.ndarray  # (N, K, 4) w, x, y, z
    object_vel: np.ndarray  # (N, K, 3) linear velocity (0 for fixtures)
    goal_pos: np.ndarray  # (N, 3) where the task wants its object (or the gripper, for reach)
    holding: np.ndarray  # (N, E, K) object k touches both fingers of gripper e
    table_contact: np.ndarray  # (N, K) object k touches the table
    table_z: float
    joint_vel: np.ndarray  # (N, num_joints)
    action: np.ndarray
    prev_action: np.ndarray
    finite: np.ndarray  # (N,) the simulation state has no NaN/inf
