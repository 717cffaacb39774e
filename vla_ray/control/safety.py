"""The deployment safety filter (seeds: embodiment guide `_apply_safety`, humanoid guide `_apply_safety_filter`).

Always on, in training as in serving, so a served action equals the action the policy
was trained to produce. Order: non-finite output -> hold the current position; then the
per-step velocity clamp against the measured joint positions; then the joint-limit clamp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_ray.embodiment import EmbodimentConfig


@dataclass(frozen=True)
class SafetyReport:
    limit_clamped: np.ndarray  # bool per joint: target was outside the joint limits
    velocity_clamped: np.ndarray  # bool per joint: target moved faster than max_joint_velocity allows
    fallback: bool  # the policy output was not finite; the robot holds its current position

    @property
    def any_clamped(self) -> bool:
        return bool(self.limit_clamped.any() or self.velocity_clamped.any())


class SafetyFilter:
    def __init__(self, embodiment: EmbodimentConfig):
        self.lower = embodiment.joint_lower
        self.upper = embodiment.joint_upper
        self.num_joints = embodiment.num_joints
        # Largest change of a joint target in one control period.
        self.max_step = embodiment.max_joint_velocity / embodiment.control_frequency_hz

    def __call__(self, targets: np.ndarray, joint_pos: np.ndarray) -> tuple[np.ndarray, SafetyReport]:
        """Filter joint targets (1-D, joints first; extra gripper channels pass through clipped to [0, 1])."""
        targets = np.asarray(targets, dtype=np.float64)
        joint_pos = np.asarray(joint_pos, dtype=np.float64)
        n = self.num_joints
        if joint_pos.shape != (n,):
            raise ValueError(f"joint_pos has shape {joint_pos.shape}: expected ({n},)")
        if not np.all(np.isfinite(targets)):
            hold = np.concatenate([np.clip(joint_pos, self.lower, self.upper), np.zeros(targets.shape[0] - n)])
            no = np.zeros(n, dtype=bool)
            return hold, SafetyReport(limit_clamped=no, velocity_clamped=no.copy(), fallback=True)
        joints = targets[:n]
        stepped = np.clip(joints, joint_pos - self.max_step, joint_pos + self.max_step)
        safe = np.clip(stepped, self.lower, self.upper)
        report = SafetyReport(
            limit_clamped=(stepped < self.lower) | (stepped > self.upper),
            velocity_clamped=stepped != joints,
            fallback=False,
        )
        if targets.shape[0] == n:
            return safe, report
        return np.concatenate([safe, np.clip(targets[n:], 0.0, 1.0)]), report
