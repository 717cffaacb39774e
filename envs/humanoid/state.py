"""What one control step measured: the quantities every reward and termination term reads.

Computed once per step so that each named term is a one-line function of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class StepState:
    base_height_m: float
    nominal_base_height_m: float
    roll_rad: float
    pitch_rad: float
    forward_velocity_mps: float  # base velocity along the heading direction
    target_velocity_mps: float
    normalized_torque: np.ndarray  # actuator force / force limit, per joint
    action: np.ndarray  # normalized action of this step
    prev_action: np.ndarray
    foot_contact: np.ndarray  # (left, right) in {0, 1}
    foot_height_m: np.ndarray  # sole height above the ground, (left, right)
    leg_pitch_offsets_rad: np.ndarray  # hip pitch minus nominal, (left, right)
    leg_lateral_rad: np.ndarray  # mirrored lateral joints, (2, k): left row, right row
