"""Named termination terms (seed: humanoid guide, HumanoidLocomotionEnv._check_termination), batched."""

from __future__ import annotations

import numpy as np

from envs.humanoid.state import StepState

FALL_HEIGHT_FRACTION = 0.5  # base below half its nominal height
MAX_TILT_RAD = 1.0  # |roll| or |pitch|


def base_too_low(s: StepState) -> np.ndarray:
    return s.base_height_m < FALL_HEIGHT_FRACTION * s.nominal_base_height_m


def excessive_tilt(s: StepState) -> np.ndarray:
    return (np.abs(s.roll_rad) > MAX_TILT_RAD) | (np.abs(s.pitch_rad) > MAX_TILT_RAD)


def simulation_diverged(s: StepState) -> np.ndarray:
    return ~s.finite


TERMINATION_TERMS = {
    "base_too_low": base_too_low,
    "excessive_tilt": excessive_tilt,
    "simulation_diverged": simulation_diverged,
}
