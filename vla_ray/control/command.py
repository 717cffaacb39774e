"""The one path from a policy's normalized action to a robot command: ActionScaler, then SafetyFilter.

The environment steps the simulator with these targets and the server answers with them,
so a served action is, by construction, the command the policy was trained to issue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_ray.control.action_scaling import ActionScaler
from vla_ray.control.safety import SafetyFilter, SafetyReport
from vla_ray.embodiment import EmbodimentConfig


@dataclass(frozen=True)
class JointCommand:
    normalized: np.ndarray  # (N, action_dim) the policy's output clipped to [-1, 1]; all-NaN rows where it was not finite
    targets: np.ndarray  # (N, action_dim) safe joint targets in rad, then gripper openings in [0, 1]
    safety: SafetyReport


class JointCommander:
    def __init__(self, embodiment: EmbodimentConfig):
        self.scaler = ActionScaler(embodiment)
        self.safety = SafetyFilter(embodiment)

    def __call__(self, normalized: np.ndarray, current: np.ndarray) -> JointCommand:
        """(N, action_dim) normalized actions and the (N, action_dim) measured positions of the same channels."""
        raw = np.asarray(normalized, dtype=np.float64)
        # Clipping would turn an infinite output into a full-range command; any non-finite value means the
        # policy has failed, and the safety filter's fallback (hold position) takes over the whole robot.
        finite = np.isfinite(raw).all(axis=-1, keepdims=True)
        normalized = np.where(finite, np.clip(raw, -1.0, 1.0), np.nan)
        targets, report = self.safety(self.scaler.to_targets(normalized), current)
        return JointCommand(normalized=normalized, targets=targets, safety=report)
