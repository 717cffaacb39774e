"""Pose and velocity of a free-floating base (humanoid, quadruped) from its free joint, batched."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FloatingBase:
    position: np.ndarray  # (N, 3) world
    roll_rad: np.ndarray
    pitch_rad: np.ndarray
    yaw_rad: np.ndarray
    gravity: np.ndarray  # (N, 3) unit gravity direction in the base frame (legged_gym's projected gravity)
    heading_velocity: np.ndarray  # (N, 3) linear velocity in the yaw-aligned frame
    angular_velocity: np.ndarray  # (N, 3) in the base frame (MuJoCo's free-joint angular qvel)

    @classmethod
    def of(cls, root_qpos: np.ndarray, root_qvel: np.ndarray) -> "FloatingBase":
        """From (N, 7) free-joint qpos (position, quaternion w x y z) and (N, 6) qvel (world linear, local angular)."""
        w, x, y, z = (root_qpos[:, i] for i in range(3, 7))
        yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        c, s = np.cos(yaw), np.sin(yaw)
        vx, vy, vz = root_qvel[:, 0], root_qvel[:, 1], root_qvel[:, 2]
        return cls(
            position=root_qpos[:, :3],
            roll_rad=np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)),
            pitch_rad=np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0)),
            yaw_rad=yaw,
            gravity=-np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1),
            heading_velocity=np.stack([c * vx + s * vy, -s * vx + c * vy, vz], axis=1),
            angular_velocity=root_qvel[:, 3:6],
        )
