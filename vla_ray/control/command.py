"""The one path from a policy's normalized action to a robot command: the action's scaler (ActionScaler for
joint-space actions, EndEffectorScaler's inverse kinematics for end-effector actions), then SafetyFilter.

The environment steps the simulator with these targets and the server answers with them,
so a served action is, by construction, the command the policy was trained to issue.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vla_ray.control.action_scaling import ActionScaler
from vla_ray.control.end_effector import EndEffectorScaler
from vla_ray.control.safety import SafetyFilter, SafetyReport
from vla_ray.embodiment import EmbodimentConfig


@dataclass(frozen=True)
class JointCommand:
    normalized: np.ndarray  # (N, action_dim) the policy's output clipped to [-1, 1]; all-NaN rows where it was not finite
    targets: np.ndarray  # (N, command_dim) safe joint targets in rad, then gripper openings in [0, 1]
    safety: SafetyReport


def action_scaler(embodiment: EmbodimentConfig, kinematics: mujoco.MjModel | None) -> ActionScaler | EndEffectorScaler:
    if embodiment.action_type != "end_effector":
        return ActionScaler(embodiment)
    if kinematics is None:
        raise ValueError(f"{embodiment.robot_name}: end-effector actions need the arm's kinematic model "
                         "(envs.simulation.joint_commander builds it) to solve for joint targets")
    return EndEffectorScaler(embodiment, kinematics)


class JointCommander:
    """`kinematics`: the robot's MjModel, needed (and only read) for end-effector actions."""

    def __init__(self, embodiment: EmbodimentConfig, kinematics: mujoco.MjModel | None = None):
        self.scaler = action_scaler(embodiment, kinematics)
        self.safety = SafetyFilter(embodiment)

    def __call__(self, normalized: np.ndarray, current: np.ndarray) -> JointCommand:
        """(N, action_dim) normalized actions and the (N, command_dim) measured positions of the command's
        channels (joint positions, then gripper openings)."""
        raw = np.asarray(normalized, dtype=np.float64)
        # Clipping would turn an infinite output into a full-range command; any non-finite value means the
        # policy has failed, and the safety filter's fallback (hold position) takes over the whole robot.
        finite = np.isfinite(raw).all(axis=-1, keepdims=True)
        normalized = np.where(finite, np.clip(raw, -1.0, 1.0), np.nan)
        targets, report = self.safety(self.scaler.to_targets(normalized, current), current)
        return JointCommand(normalized=normalized, targets=targets, safety=report)
