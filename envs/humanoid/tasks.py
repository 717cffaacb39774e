"""Humanoid locomotion tasks: a numeric command, the instruction that says the same in words, and reward weights.

Weights are the humanoid guide's (Stage 3, "Bipedal Locomotion with RL"): the full
locomotion set for walking, the simplified standing set for standing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from envs.humanoid.rewards import check_reward_weights

TASK_NAMES = ("stand", "walk")

# seed: humanoid guide, LocomotionTrainer.reward_weights
WALK_REWARD_WEIGHTS = {
    "forward_velocity": 1.0,
    "survival": 0.1,
    "energy_efficiency": -0.01,
    "upright_bonus": 0.5,
    "smooth_motion": -0.1,
    "foot_clearance": 0.2,
    "symmetry": 0.3,
}
# seed: humanoid guide, train_standing() standing_rewards
STAND_REWARD_WEIGHTS = {
    "upright_bonus": 1.0,
    "survival": 0.5,
    "smooth_motion": -0.1,
    "feet_on_ground": 0.3,
}


@dataclass(frozen=True)
class LocomotionTask:
    name: str
    target_velocity_mps: float = 0.0  # commanded forward speed in the heading frame
    reward_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in TASK_NAMES:
            raise ValueError(f"LocomotionTask.name={self.name!r}: expected one of {TASK_NAMES}")
        if self.name == "stand" and self.target_velocity_mps != 0.0:
            raise ValueError(
                f"LocomotionTask(stand).target_velocity_mps={self.target_velocity_mps}: expected 0.0 for standing"
            )
        if self.name == "walk" and not 0.0 < self.target_velocity_mps <= 2.0:
            raise ValueError(
                f"LocomotionTask(walk).target_velocity_mps={self.target_velocity_mps}: expected a speed in (0, 2] m/s"
            )

    @property
    def command(self) -> np.ndarray:
        """(forward m/s, lateral m/s, yaw rate rad/s): the numeric form of the instruction."""
        return np.array([self.target_velocity_mps, 0.0, 0.0], dtype=np.float32)

    @property
    def instruction(self) -> str:
        if self.name == "stand":
            return "stand still"
        return f"walk forward at {self.target_velocity_mps:.1f} m/s"


def make_task(name: str, target_velocity_mps: float = 0.0, reward_weights: dict[str, float] | None = None):
    """A task with its default weights, optionally overridden term by term."""
    check_reward_weights(reward_weights or {})
    defaults = STAND_REWARD_WEIGHTS if name == "stand" else WALK_REWARD_WEIGHTS
    weights = dict(defaults)
    weights.update(reward_weights or {})
    return LocomotionTask(name=name, target_velocity_mps=target_velocity_mps, reward_weights=weights)
