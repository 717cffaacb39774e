"""The deployment safety filter (seeds: embodiment guide `_apply_safety`, humanoid guide `_apply_safety_filter`).

Always on, in training as in serving, so a served action equals the action the policy
was trained to produce. Per robot, in order: a non-finite output -> hold the current
position; the per-step velocity clamp against the measured joint positions; the
joint-limit clamp. Works on batches: every array has robots as its first axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_ray.embodiment import EmbodimentConfig


@dataclass(frozen=True)
class SafetyReport:
    limit_clamped: np.ndarray  # (N, joints) bool: target was outside the joint limits
    velocity_clamped: np.ndarray  # (N, joints) bool: target moved faster than max_joint_velocity allows
    fallback: np.ndarray  # (N,) bool: the policy output was not finite; the robot holds its position

    @property
    def intervened(self) -> np.ndarray:
        """(N,) bool: the filter changed this robot's command."""
        return self.limit_clamped.any(axis=1) | self.velocity_clamped.any(axis=1) | self.fallback


class SafetyFilter:
    def __init__(self, embodiment: EmbodimentConfig):
        self.lower = embodiment.joint_lower
        self.upper = embodiment.joint_upper
        self.num_joints = embodiment.num_joints
        self.command_dim = embodiment.command_dim
        # Largest change of a joint target in one control period.
        self.max_step = embodiment.max_joint_velocity / embodiment.control_frequency_hz

    def __call__(self, targets: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, SafetyReport]:
        """Filter (N, command_dim) targets given the (N, command_dim) measured positions of the same channels
        (joint positions first, then gripper openings in [0, 1])."""
        targets = np.asarray(targets, dtype=np.float64)
        current = np.asarray(current, dtype=np.float64)
        n = self.num_joints
        if targets.ndim != 2 or targets.shape[1] != self.command_dim:
            raise ValueError(f"targets have shape {targets.shape}: expected (N, {self.command_dim})")
        if current.shape != targets.shape:
            raise ValueError(f"current positions have shape {current.shape}: expected {targets.shape}")
        fallback = ~np.isfinite(targets).all(axis=1)
        commanded = np.where(fallback[:, None], current, targets)
        joints, joint_pos = commanded[:, :n], current[:, :n]
        stepped = np.clip(joints, joint_pos - self.max_step, joint_pos + self.max_step)
        safe = np.clip(stepped, self.lower, self.upper)
        report = SafetyReport(
            limit_clamped=(stepped < self.lower) | (stepped > self.upper),
            velocity_clamped=stepped != joints,
            fallback=fallback,
        )
        if self.command_dim == n:
            return safe, report
        return np.concatenate([safe, np.clip(commanded[:, n:], 0.0, 1.0)], axis=1), report
