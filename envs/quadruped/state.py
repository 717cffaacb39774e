"""QuadrupedState: what reward, termination and observation terms read after a control step, batched."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.floating_base import FloatingBase


@dataclass(frozen=True)
class QuadrupedState:
    base: FloatingBase
    base_height_m: np.ndarray  # (N,) above the ground under the base
    command: np.ndarray  # (N, 3) vx, vy (m/s, heading frame), yaw rate (rad/s)
    joint_pos: np.ndarray
    joint_vel: np.ndarray
    joint_acc: np.ndarray  # finite difference over the control period
    normalized_torque: np.ndarray  # (N, 12) actuator force / force limit
    foot_contact: np.ndarray  # (N, 4) bool
    first_contact: np.ndarray  # (N, 4) bool: the foot touched down this step
    air_time_s: np.ndarray  # (N, 4) time the foot was in the air before this step's touchdown
    body_contact: np.ndarray  # (N,) the trunk touches the ground
    action: np.ndarray
    prev_action: np.ndarray
    finite: np.ndarray
