"""NPZ motion files: joint angles per frame (the humanoid guide's MoCapDataset fields) with root position and rotation.

Arrays, frames first, lengths in metres:
    fps            ()      frames per second
    root_pos       (T, 3)
    root_quat      (T, 4)  w x y z, root body -> world
    joint_names    (J,)
    joint_axes     (J, 3)  each angle's rotation axis in its parent's frame at rest
    joint_pos      (T, J)  rad
    joint_vel      (T, J)  rad/s, optional: checked for shape, not read (velocities are differentiated after
                           retargeting, so that they match the retargeted positions)
    joint_offsets  (J, 3)  optional: each joint's offset from its parent at rest (for the leg-length scale)
Each named angle becomes one source joint rotating about its axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vla_ray.mocap.clips import MotionClip, SourceAxes
from vla_ray.mocap.rotations import quat_from_axis_angle

REQUIRED_KEYS = ("fps", "root_pos", "root_quat", "joint_names", "joint_axes", "joint_pos")
OPTIONAL_KEYS = ("joint_vel", "joint_offsets")


def load_npz(path: str | Path, *, axes: SourceAxes = SourceAxes(), skeleton: str = "npz") -> MotionClip:
    path = Path(path)
    with np.load(path, allow_pickle=False) as archive:
        data = {key: archive[key] for key in archive.files}
    unknown = sorted(set(data) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown arrays {', '.join(unknown)}: expected among {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(f"{path}: missing arrays {', '.join(missing)}")
    names = [str(name) for name in data["joint_names"]]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{path}: joint_names repeats {', '.join(repeated)}: expected unique names")
    _check_shape(path, "fps", data["fps"], ())
    joint_pos = np.asarray(data["joint_pos"], dtype=np.float64)
    joint_axes = np.asarray(data["joint_axes"], dtype=np.float64)
    frames = len(joint_pos)
    _check_shape(path, "joint_pos", joint_pos, (frames, len(names)))
    _check_shape(path, "joint_axes", joint_axes, (len(names), 3))
    if "joint_vel" in data:
        _check_shape(path, "joint_vel", data["joint_vel"], joint_pos.shape)
    lengths = np.linalg.norm(joint_axes, axis=1)
    if not np.allclose(lengths, 1.0, atol=1e-6):
        raise ValueError(f"{path}: joint_axes has norms {lengths.round(6).tolist()}: expected unit vectors")
    offsets = {}
    if "joint_offsets" in data:
        _check_shape(path, "joint_offsets", data["joint_offsets"], (len(names), 3))
        offsets = dict(zip(names, np.asarray(data["joint_offsets"], dtype=np.float64)))
    return MotionClip.from_source_frame(
        axes,
        name=path.name,
        skeleton=skeleton,
        fps=float(data["fps"]),
        root_pos=data["root_pos"],
        root_quat=data["root_quat"],
        joint_rotations={name: quat_from_axis_angle(joint_axes[j], joint_pos[:, j]) for j, name in enumerate(names)},
        offsets_m=offsets,
    )


def _check_shape(path: Path, key: str, value: np.ndarray, expected: tuple[int, ...]) -> None:
    if np.shape(value) != expected:
        raise ValueError(f"{path}: {key} has shape {np.shape(value)}: expected {expected}")
