"""Motion chunks in the policy's action units: what the skills head outputs and its library is trained on.

A retargeted motion is resampled to the robot's control rate, then each frame t gives a pair: the
pose at t and the joint targets of the next `horizon` control steps (t+1 .. t+horizon). Both are in
normalized action units of full-range scaling (`joint_limits`: -1 and 1 are the joint limits), so
that every pose a motion reaches is an action; the environment executing chunks uses that scaling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_ray.control.action_scaling import ActionScaler
from vla_ray.embodiment import EmbodimentConfig
from vla_ray.mocap.motion import RetargetedMotion

CHUNK_ACTION_SCALING = "joint_limits"


@dataclass(frozen=True)
class MotionWindows:
    poses: np.ndarray  # (N, J) normalized joint positions at the start of each chunk
    chunks: np.ndarray  # (N, horizon, J) normalized joint targets of the next control steps
    sources: np.ndarray  # (N,) the clip each window came from
    frames: np.ndarray  # (N,) the window's start, in control steps from the motion's start

    def __len__(self) -> int:
        return len(self.poses)

    def subset(self, mask: np.ndarray) -> "MotionWindows":
        return MotionWindows(self.poses[mask], self.chunks[mask], self.sources[mask], self.frames[mask])

    @staticmethod
    def concatenate(parts: list["MotionWindows"]) -> "MotionWindows":
        return MotionWindows(*(np.concatenate([getattr(p, name) for p in parts]) for name in
                               ("poses", "chunks", "sources", "frames")))


def chunk_scaler(embodiment: EmbodimentConfig) -> ActionScaler:
    return ActionScaler(embodiment.with_action_scaling(CHUNK_ACTION_SCALING))


def resample(motion: RetargetedMotion, rate_hz: float) -> np.ndarray:
    """(T', J) joint positions at `rate_hz`, linearly interpolated between the motion's frames."""
    times = np.arange(motion.num_frames) / motion.fps
    at = np.arange(0.0, times[-1] + 1e-9, 1.0 / rate_hz)
    return np.stack([np.interp(at, times, motion.joint_pos[:, j]) for j in range(motion.joint_pos.shape[1])], axis=1)


def motion_windows(motion: RetargetedMotion, embodiment: EmbodimentConfig, horizon: int) -> MotionWindows:
    if tuple(motion.joint_names) != embodiment.joint_names:
        raise ValueError(f"{motion.source_clip}: retargeted onto {motion.embodiment}'s joints, expected "
                         f"{embodiment.robot_name}'s")
    positions = resample(motion, embodiment.control_frequency_hz)
    if len(positions) <= horizon:
        raise ValueError(f"{motion.source_clip}: {len(positions)} control steps, expected more than horizon={horizon}")
    normalized = chunk_scaler(embodiment).to_normalized(positions)
    starts = np.arange(len(normalized) - horizon)
    chunks = np.stack([normalized[starts + 1 + h] for h in range(horizon)], axis=1)
    sources = np.full(len(starts), motion.source_clip.rsplit(".", 1)[0])
    return MotionWindows(normalized[starts], chunks, sources, starts)
