"""DeepMimic motion files (the humanoid3d skeleton): JSON with "Loop" and "Frames".

A frame is [duration s, root position (3), root quaternion (4, w first), joint values...]; each
joint is a quaternion (spherical joints) or one angle about the joint's axis (knees, elbows).
DeepMimic is y-up with the character facing +x at rest (its right hip sits at +z), so the right
knee's axis +z points to the character's right.
Layout verified in /work/shared/data/motions/README.md against bullet3's humanoid_pose_interpolator.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vla_ray.mocap.clips import MotionClip, SourceAxes
from vla_ray.mocap.rotations import quat_from_axis_angle

SKELETON = "deepmimic_humanoid3d"
AXES = SourceAxes(up="+y", forward="+x")
FRAME_TIME_TOLERANCE_S = 1e-5  # durations are written with 6 decimals (0.033332)
LOOP_MODES = {"wrap": True, "none": False}

# Joints in file order: (name, number of values, rotation axis of a one-value joint in the source frame).
REVOLUTE_AXIS = (0.0, 0.0, 1.0)
JOINTS = (
    ("chest", 4, None),
    ("neck", 4, None),
    ("right_hip", 4, None),
    ("right_knee", 1, REVOLUTE_AXIS),
    ("right_ankle", 4, None),
    ("right_shoulder", 4, None),
    ("right_elbow", 1, REVOLUTE_AXIS),
    ("left_hip", 4, None),
    ("left_knee", 1, REVOLUTE_AXIS),
    ("left_ankle", 4, None),
    ("left_shoulder", 4, None),
    ("left_elbow", 1, REVOLUTE_AXIS),
)
FRAME_WIDTH = 8 + sum(width for _, width, _ in JOINTS)  # 44

# Offsets of each joint from its parent joint at rest (m, source frame): bullet3's
# pybullet_data/humanoid/humanoid.urdf (commit 30584994) joint origins times the globalScaling 0.25
# its DeepMimic environment loads it with (humanoid_stable_pd.py).
OFFSETS_M = {
    "chest": (0.0, 0.236151, 0.0),
    "neck": (0.0, 0.223894, 0.0),
    "right_hip": (0.0, 0.0, 0.084887),
    "right_knee": (0.0, -0.421546, 0.0),
    "right_ankle": (0.0, -0.40987, 0.0),
    "right_shoulder": (-0.02405, 0.2435, 0.18311),
    "right_elbow": (0.0, -0.274788, 0.0),
    "left_hip": (0.0, 0.0, -0.084887),
    "left_knee": (0.0, -0.421546, 0.0),
    "left_ankle": (0.0, -0.40987, 0.0),
    "left_shoulder": (-0.02405, 0.2435, -0.18311),
    "left_elbow": (0.0, -0.274788, 0.0),
}


def load_deepmimic(path: str | Path) -> MotionClip:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: expected a DeepMimic JSON motion file ({error})") from None
    if not isinstance(data, dict) or "Frames" not in data or "Loop" not in data:
        raise ValueError(f"{path}: expected a JSON object with 'Loop' and 'Frames'")
    if data["Loop"] not in LOOP_MODES:
        raise ValueError(f"{path}: Loop={data['Loop']!r}: expected one of {', '.join(LOOP_MODES)}")
    frames = np.asarray(data["Frames"], dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != FRAME_WIDTH or len(frames) < 2:
        raise ValueError(
            f"{path}: Frames has shape {frames.shape}: expected (frames >= 2, {FRAME_WIDTH}) for the humanoid3d "
            "skeleton"
        )
    return MotionClip.from_source_frame(
        AXES,
        name=path.name,
        skeleton=SKELETON,
        fps=1.0 / _frame_time_s(path, frames[:, 0]),
        root_pos=frames[:, 1:4],
        root_quat=frames[:, 4:8],
        joint_rotations=_joint_rotations(frames[:, 8:]),
        offsets_m=OFFSETS_M,
        loop=LOOP_MODES[data["Loop"]],
    )


def _frame_time_s(path: Path, durations: np.ndarray) -> float:
    """The clip's one frame time; the last frame's duration is 0 (nothing follows it)."""
    steps = durations[:-1]
    if steps[0] <= 0 or np.abs(steps - steps[0]).max() > FRAME_TIME_TOLERANCE_S:
        raise ValueError(
            f"{path}: frame durations range {steps.min()}..{steps.max()} s: expected one positive frame time"
        )
    return float(steps[0])


def _joint_rotations(values: np.ndarray) -> dict[str, np.ndarray]:
    rotations, column = {}, 0
    for name, width, axis in JOINTS:
        block = values[:, column : column + width]
        rotations[name] = block if axis is None else quat_from_axis_angle(axis, block[:, 0])
        column += width
    return rotations
