"""Simulator states along a retargeted motion: reference-state initialization and the expert side of AMP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_ray.mocap.dataset import read_motion


@dataclass(frozen=True)
class ReferenceStates:
    qpos: np.ndarray  # (T, nq): free joint (position, w-x-y-z quaternion) then the robot's joints
    qvel: np.ndarray  # (T, nv): world linear velocity, body angular velocity (MuJoCo's free joint), joints

    @classmethod
    def load(cls, path: str, robots, joint_names: tuple[str, ...]) -> "ReferenceStates":
        motion = read_motion(path)
        if tuple(motion.joint_names) != tuple(joint_names):
            raise ValueError(f"reference_motion {path} was retargeted to {motion.embodiment!r} with other joints: "
                             f"expected the joints {joint_names[:3]}... of this robot (python -m vla_ray.mocap.retarget)")
        frames = motion.joint_pos.shape[0]
        qpos = np.tile(robots.nominal_qpos, (frames, 1))
        qpos[:, :3], qpos[:, 3:7] = motion.root_pos, motion.root_quat
        qpos[:, robots.qpos_index] = motion.joint_pos
        qvel = np.zeros((frames, robots.models[0].nv))
        qvel[:, :3], qvel[:, 3:6] = motion.root_lin_vel, motion.root_ang_vel
        qvel[:, robots.qvel_index] = motion.joint_vel
        return cls(qpos, qvel)

    @property
    def num_frames(self) -> int:
        return len(self.qpos)

    def state(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        return self.qpos[frame].copy(), self.qvel[frame].copy()
