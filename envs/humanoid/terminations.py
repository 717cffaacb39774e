"""Named termination terms (seed: humanoid guide, HumanoidLocomotionEnv._check_termination)."""

from __future__ import annotations

from envs.humanoid.state import StepState

FALL_HEIGHT_FRACTION = 0.5  # base below half its nominal height
MAX_TILT_RAD = 1.0  # |roll| or |pitch|


def base_too_low(s: StepState) -> bool:
    return s.base_height_m < FALL_HEIGHT_FRACTION * s.nominal_base_height_m


def excessive_tilt(s: StepState) -> bool:
    return abs(s.roll_rad) > MAX_TILT_RAD or abs(s.pitch_rad) > MAX_TILT_RAD


TERMINATION_TERMS = {"base_too_low": base_too_low, "excessive_tilt": excessive_tilt}
