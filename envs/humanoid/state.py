"""What one control step measured, for a batch of robots: the input of every reward and termination term.

Computed once per step so that each named term is a short vectorized function of it;
every array has the batch as its first axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class StepState:
    base_height_m: np.ndarray
    nominal_base_height_m: float
    roll_rad: np.ndarray
    pitch_rad: np.ndarray
    forward_velocity_mps: np.ndarray  # base velocity along the heading direction
    target_velocity_mps: np.ndarray
    normalized_torque: np.ndarray  # (N, joints) actuator force / force limit
    action: np.ndarray  # (N, action_dim) normalized action of this step
    prev_action: np.ndarray
    foot_contact: np.ndarray  # (N, 2) left, right in {0, 1}
    foot_height_m: np.ndarray  # (N, 2) sole height above the ground
    leg_pitch_offsets_rad: np.ndarray  # (N, 2) hip pitch minus nominal, left and right
    leg_lateral_rad: np.ndarray  # (N, 2, k) mirrored lateral joints: left row, right row
    finite: np.ndarray  # (N,) simulation state is finite
