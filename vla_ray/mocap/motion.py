"""RetargetedMotion: a clip on one robot, as joint positions within limits, root trajectory, velocities and contacts.

It is what the Parquet motion dataset holds and what kinematic playback poses, so its arrays
are laid out like the robot's state: joints in the embodiment's order, root position and
quaternion as the free joint's qpos, root velocities as its qvel (linear in the world frame,
angular in the root body's frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RetargetedMotion:
    source_clip: str  # the clip's file name
    embodiment: str  # robot name
    fps: float
    loop: bool
    joint_names: tuple[str, ...]
    joint_pos: np.ndarray  # (T, J) rad, within the joint limits
    joint_vel: np.ndarray  # (T, J) rad/s, finite differences of joint_pos
    root_pos: np.ndarray  # (T, 3) m, world
    root_quat: np.ndarray  # (T, 4) w x y z
    root_lin_vel: np.ndarray  # (T, 3) m/s, world frame
    root_ang_vel: np.ndarray  # (T, 3) rad/s, root body frame
    foot_names: tuple[str, ...]
    foot_height_m: np.ndarray  # (T, F) lowest point of each foot above the floor
    foot_contact: np.ndarray  # (T, F) bool
    clipped_fraction: Mapping[str, float]  # per joint: fraction of frames whose retargeted angle was clipped
    leg_scale: float  # robot / source leg length: the scale of the root trajectory
    ground_offset_m: float  # added to the scaled root height so that planted feet stand on the floor

    def __post_init__(self):
        where = f"RetargetedMotion(source_clip={self.source_clip!r})"
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"{where}.fps={self.fps!r}: expected a finite number > 0")
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "foot_names", tuple(self.foot_names))
        frames, joints, feet = len(self.joint_pos), len(self.joint_names), len(self.foot_names)
        expected = {
            "joint_pos": (frames, joints), "joint_vel": (frames, joints), "root_pos": (frames, 3),
            "root_quat": (frames, 4), "root_lin_vel": (frames, 3), "root_ang_vel": (frames, 3),
            "foot_height_m": (frames, feet), "foot_contact": (frames, feet),
        }
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name), dtype=bool if name == "foot_contact" else np.float64)
            if value.shape != shape:
                raise ValueError(f"{where}.{name} has shape {value.shape}: expected {shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"{where}.{name}: expected finite values")
            object.__setattr__(self, name, value)
        if set(self.clipped_fraction) != set(self.joint_names):
            raise ValueError(f"{where}.clipped_fraction: expected one entry per joint of {self.joint_names}")
        object.__setattr__(self, "clipped_fraction", {name: float(self.clipped_fraction[name]) for name in self.joint_names})

    @property
    def num_frames(self) -> int:
        return len(self.joint_pos)

    @property
    def duration_s(self) -> float:
        return (self.num_frames - 1) / self.fps

    @property
    def max_joint_speed(self) -> tuple[str, float]:
        """The fastest joint and its peak speed, rad/s."""
        speeds = np.abs(self.joint_vel).max(axis=0)
        j = int(np.argmax(speeds))
        return self.joint_names[j], float(speeds[j])

    @property
    def mean_clipped_fraction(self) -> float:
        """Fraction of all (frame, joint) values that were clipped to a limit."""
        return float(np.mean(list(self.clipped_fraction.values())))

    @property
    def contact_height_error_m(self) -> float:
        """Mean |foot height| over the frames a foot is in contact (NaN when it never is): 0 is a foot on the floor."""
        heights = self.foot_height_m[self.foot_contact]
        return float(np.abs(heights).mean()) if heights.size else float("nan")

    def summary(self) -> dict:
        fastest, speed = self.max_joint_speed
        clipped = {name: round(f, 3) for name, f in self.clipped_fraction.items() if f > 0}
        return {
            "source_clip": self.source_clip,
            "embodiment": self.embodiment,
            "frames": self.num_frames,
            "fps": round(self.fps, 3),
            "duration_s": round(self.duration_s, 3),
            "clipped_fraction": round(self.mean_clipped_fraction, 4),
            "clipped_joints": dict(sorted(clipped.items(), key=lambda item: -item[1])),
            "max_joint_speed_rad_s": round(speed, 3),
            "fastest_joint": fastest,
            "contact_fraction": round(float(self.foot_contact.mean()), 3),
            "contact_foot_height_error_m": _rounded(self.contact_height_error_m, 4),
            "lowest_foot_height_m": round(float(self.foot_height_m.min()), 4),
            "leg_scale": round(self.leg_scale, 4),
            "ground_offset_m": round(self.ground_offset_m, 4),
        }


def _rounded(value: float, digits: int) -> float | None:
    """None for NaN, which JSON cannot hold."""
    return round(value, digits) if np.isfinite(value) else None
