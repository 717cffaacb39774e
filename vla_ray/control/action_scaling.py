"""Normalized actions in [-1, 1] <-> joint targets in the robot's units (seed: embodiment guide, ActionScaler)."""

from __future__ import annotations

import numpy as np

from vla_ray.embodiment import EmbodimentConfig


def gripper_openings(channels: np.ndarray) -> np.ndarray:
    """End-effector action channels in [-1, 1] -> openings, 0 closed .. 1 open (every action type alike)."""
    return (channels + 1.0) / 2.0


def gripper_channels(openings: np.ndarray) -> np.ndarray:
    """Inverse of gripper_openings."""
    return openings * 2.0 - 1.0


class ActionScaler:
    """Maps policy outputs to joint position targets (+ gripper openings in [0, 1]).

    joint_limits:   target = lower + (a + 1) / 2 * (upper - lower), so [-1, 1] covers the limits exactly.
    nominal_offset: target = clip(nominal + scale * a, lower, upper), legged_gym's PD convention.
    """

    def __init__(self, embodiment: EmbodimentConfig):
        if embodiment.action_type != "joint_position":
            raise ValueError(
                f"ActionScaler: {embodiment.robot_name}.action_type={embodiment.action_type!r}: "
                "expected 'joint_position' (the only action type the PD environments execute)"
            )
        self.num_joints = embodiment.num_joints
        self.action_dim = embodiment.action_dim
        self.mode = embodiment.action_scaling.mode
        self.scale = embodiment.action_scaling.scale
        self.lower = embodiment.joint_lower
        self.upper = embodiment.joint_upper
        self.nominal = embodiment.nominal_pose
        self._half_range = (self.upper - self.lower) / 2.0

    def _check(self, array: np.ndarray, what: str) -> None:
        if array.shape[-1] != self.action_dim:
            raise ValueError(f"{what} has {array.shape[-1]} values per row: expected action_dim={self.action_dim}")

    def to_targets(self, action: np.ndarray, current: np.ndarray | None = None) -> np.ndarray:
        """(..., action_dim) normalized action -> (..., action_dim) joint targets and gripper openings. Joint-space
        targets do not depend on the measured positions `current` (an EndEffectorScaler's do)."""
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self._check(action, "action")
        joints = action[..., : self.num_joints]
        if self.mode == "joint_limits":
            targets = self.lower + (joints + 1.0) * self._half_range
        else:
            targets = np.clip(self.nominal + self.scale * joints, self.lower, self.upper)
        gripper = gripper_openings(action[..., self.num_joints :])
        return np.concatenate([targets, gripper], axis=-1) if gripper.shape[-1] else targets

    def to_normalized(self, targets: np.ndarray) -> np.ndarray:
        """Inverse of to_targets for targets the mapping can reach (used to express known poses as actions)."""
        targets = np.asarray(targets, dtype=np.float64)
        self._check(targets, "targets")
        joints = targets[..., : self.num_joints]
        if self.mode == "joint_limits":
            normalized = (joints - self.lower) / self._half_range - 1.0
        else:
            normalized = (joints - self.nominal) / self.scale
        gripper = gripper_channels(targets[..., self.num_joints :])
        out = np.concatenate([normalized, gripper], axis=-1) if gripper.shape[-1] else normalized
        return np.clip(out, -1.0, 1.0)
