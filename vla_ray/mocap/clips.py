"""MotionClip: a source motion (any skeleton) in MuJoCo's world frame, and the conversion into that frame.

Every loader hands the retargeter the same thing: root position and orientation per frame, and per
source joint its local rotation (child link relative to parent link, the identity at the
skeleton's rest pose) as a quaternion. All of it is in MuJoCo's convention: x forward, y left,
z up, metres. A source recorded y-up (DeepMimic, most BVH) is rotated into it here, once, by
`SourceAxes`, so nothing downstream has to know which way the source was up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import mujoco
import numpy as np

from vla_ray.mocap.rotations import conjugate_frame, quat_continuous

AXES = {"+x": (1.0, 0.0, 0.0), "-x": (-1.0, 0.0, 0.0), "+y": (0.0, 1.0, 0.0), "-y": (0.0, -1.0, 0.0),
        "+z": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0)}
UNIT_NORM_TOLERANCE = 0.05  # source files round their quaternions; humanoid3d_jump's are off by up to 1.7%


@dataclass(frozen=True)
class SourceAxes:
    """Which source axes point up and forward (the way the skeleton faces at rest); left = up x forward."""

    up: str = "+z"
    forward: str = "+x"

    def __post_init__(self):
        for name in ("up", "forward"):
            if getattr(self, name) not in AXES:
                raise ValueError(f"SourceAxes.{name}={getattr(self, name)!r}: expected one of {', '.join(AXES)}")
        if self.up[1] == self.forward[1]:
            raise ValueError(f"SourceAxes(up={self.up!r}, forward={self.forward!r}): expected two different axes")

    def to_mujoco(self) -> np.ndarray:
        """(3, 3) rotation taking source coordinates to MuJoCo's (x forward, y left, z up)."""
        forward, up = np.array(AXES[self.forward]), np.array(AXES[self.up])
        # Rows are the MuJoCo axes written in source coordinates: forward, left, up.
        return np.stack([forward, np.cross(up, forward), up])

    def to_mujoco_quat(self) -> np.ndarray:
        """The same rotation as a quaternion (w, x, y, z)."""
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.to_mujoco().reshape(-1))
        return quat


@dataclass(frozen=True)
class MotionClip:
    """A source motion in MuJoCo's frame; arrays have frames as their first axis."""

    name: str  # where it came from (the file name), kept in the dataset's metadata
    skeleton: str  # the source skeleton's name: what a RetargetConfig's joint map is written for
    fps: float
    root_pos: np.ndarray  # (T, 3) m
    root_quat: np.ndarray  # (T, 4) w x y z, root body -> world
    joint_rotations: Mapping[str, np.ndarray]  # source joint -> (T, 4) local rotation, identity at rest
    offsets_m: Mapping[str, np.ndarray] = field(default_factory=dict)  # joint -> (3,) from its parent joint, at rest
    loop: bool = False  # the last frame leads back into the first

    def __post_init__(self):
        where = f"MotionClip(name={self.name!r})"
        if not isinstance(self.fps, (int, float)) or not np.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"{where}.fps={self.fps!r}: expected a finite number > 0")
        root_pos = np.asarray(self.root_pos, dtype=np.float64)
        frames = len(root_pos)
        if root_pos.shape != (frames, 3) or frames < 2:
            raise ValueError(f"{where}.root_pos has shape {root_pos.shape}: expected (frames >= 2, 3)")
        object.__setattr__(self, "root_pos", root_pos)
        object.__setattr__(self, "root_quat", _unit_quats(f"{where}.root_quat", self.root_quat, frames))
        object.__setattr__(self, "joint_rotations", {
            joint: _unit_quats(f"{where}.joint_rotations[{joint!r}]", q, frames)
            for joint, q in self.joint_rotations.items()
        })
        offsets = {joint: np.asarray(offset, dtype=np.float64) for joint, offset in self.offsets_m.items()}
        for joint, offset in offsets.items():
            if offset.shape != (3,):
                raise ValueError(f"{where}.offsets_m[{joint!r}] has shape {offset.shape}: expected (3,)")
        object.__setattr__(self, "offsets_m", offsets)
        if not np.isfinite(root_pos).all():
            raise ValueError(f"{where}.root_pos: expected finite values")

    @property
    def num_frames(self) -> int:
        return len(self.root_pos)

    @classmethod
    def from_source_frame(
        cls, axes: SourceAxes, *, name: str, skeleton: str, fps: float, root_pos: np.ndarray, root_quat: np.ndarray,
        joint_rotations: Mapping[str, np.ndarray], offsets_m: Mapping[str, np.ndarray] | None = None,
        loop: bool = False,
    ) -> MotionClip:
        """A clip from values written in the source's axes (lengths already in metres): positions are rotated into
        MuJoCo's frame, and rotations conjugated by the same change of frame, for the root and every joint alike
        (the source's rest pose faces `axes.forward`, so its link frames at rest are its world frame)."""
        frame, frame_q = axes.to_mujoco(), axes.to_mujoco_quat()
        return cls(
            name=name,
            skeleton=skeleton,
            fps=fps,
            root_pos=np.asarray(root_pos, dtype=np.float64) @ frame.T,
            root_quat=conjugate_frame(frame_q, root_quat),
            joint_rotations={joint: conjugate_frame(frame_q, q) for joint, q in joint_rotations.items()},
            offsets_m={joint: frame @ np.asarray(offset, dtype=np.float64) for joint, offset in (offsets_m or {}).items()},
            loop=loop,
        )


def _unit_quats(where: str, value: np.ndarray, frames: int) -> np.ndarray:
    q = np.asarray(value, dtype=np.float64)
    if q.shape != (frames, 4):
        raise ValueError(f"{where} has shape {q.shape}: expected ({frames}, 4) quaternions w x y z")
    if not np.isfinite(q).all():
        raise ValueError(f"{where}: expected finite values")
    norms = np.linalg.norm(q, axis=1)
    worst = int(np.argmax(np.abs(norms - 1.0)))
    if abs(norms[worst] - 1.0) > UNIT_NORM_TOLERANCE:
        raise ValueError(f"{where}[{worst}] has norm {norms[worst]:.4f}: expected a unit quaternion")
    return quat_continuous(q / norms[:, None])
