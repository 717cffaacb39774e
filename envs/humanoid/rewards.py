"""Named reward terms for humanoid locomotion (Isaac Lab style: a small function per term, weighted by the task).

Each term maps a batched StepState to an (N,) array of unweighted per-step values; the
task's weights (seed: humanoid guide) scale them. Where the guide's formula would make
falling early the best strategy or let one term swamp the others, the term is bounded
instead; the docstring says so.
"""

from __future__ import annotations

import numpy as np

from envs.humanoid.state import StepState

VELOCITY_TRACKING_SIGMA_MPS = 0.25  # tracking kernel width: standing still at 0.3 m/s earns exp(-1.44)
SYMMETRY_SIGMA_RAD2 = 0.1
FOOT_CLEARANCE_TARGET_M = 0.08


def forward_velocity(s: StepState) -> np.ndarray:
    """exp(-(v - v*)^2 / sigma^2) in [0, 1]; the guide's -|v - v*| would pay a robot to fall early at 1.5 m/s."""
    err = s.forward_velocity_mps - s.target_velocity_mps
    return np.exp(-(err * err) / VELOCITY_TRACKING_SIGMA_MPS**2)


def survival(s: StepState) -> np.ndarray:
    return np.ones_like(s.base_height_m)


def energy_efficiency(s: StepState) -> np.ndarray:
    """Sum of squared torques as fractions of each motor's limit (the guide's sum of tau^2, made unit-free)."""
    return np.einsum("ij,ij->i", s.normalized_torque, s.normalized_torque)


def upright_bonus(s: StepState) -> np.ndarray:
    """Base height over nominal height (the guide's formula), capped at 1 so jumping earns nothing extra."""
    return np.minimum(s.base_height_m / s.nominal_base_height_m, 1.0)


def smooth_motion(s: StepState) -> np.ndarray:
    """Mean absolute change of the normalized action (the guide sums; the mean keeps it comparable across robots)."""
    return np.mean(np.abs(s.action - s.prev_action), axis=1)


def foot_clearance(s: StepState) -> np.ndarray:
    """Mean over swing feet of sole height up to FOOT_CLEARANCE_TARGET_M, as a fraction of it."""
    lift = np.clip(s.foot_height_m / FOOT_CLEARANCE_TARGET_M, 0.0, 1.0)
    return np.mean((1.0 - s.foot_contact) * lift, axis=1)


def symmetry(s: StepState) -> np.ndarray:
    """Mirror symmetry of the legs: hip pitch in anti-phase about nominal, lateral joints mirrored."""
    sagittal = s.leg_pitch_offsets_rad[:, 0] + s.leg_pitch_offsets_rad[:, 1]
    lateral = s.leg_lateral_rad[:, 0] - s.leg_lateral_rad[:, 1]
    err = sagittal * sagittal + np.einsum("ij,ij->i", lateral, lateral)
    return np.exp(-err / SYMMETRY_SIGMA_RAD2)


def feet_on_ground(s: StepState) -> np.ndarray:
    return np.mean(s.foot_contact, axis=1)


REWARD_TERMS = {
    "forward_velocity": forward_velocity,
    "survival": survival,
    "energy_efficiency": energy_efficiency,
    "upright_bonus": upright_bonus,
    "smooth_motion": smooth_motion,
    "foot_clearance": foot_clearance,
    "symmetry": symmetry,
    "feet_on_ground": feet_on_ground,
}
TERM_NAMES = tuple(REWARD_TERMS)


def check_reward_weights(weights: dict[str, float]) -> None:
    unknown = sorted(set(weights) - set(REWARD_TERMS))
    if unknown:
        raise ValueError(f"reward_weights: unknown terms {unknown}: expected names from {sorted(REWARD_TERMS)}")


def weight_vector(weights: dict[str, float]) -> np.ndarray:
    """Weights in TERM_NAMES order (0 for terms the task does not use)."""
    return np.array([weights.get(name, 0.0) for name in TERM_NAMES])
