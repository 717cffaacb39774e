"""BVH (Biovision hierarchy) motion files: a joint tree with offsets and channels, then one line of values per frame.

Rotation channels are degrees, applied in the order they are listed (Zrotation Xrotation Yrotation
means R = Rz * Rx * Ry); the rest pose, where every rotation is the identity, is the one the
offsets draw. Only the root's position channels are read: the clip holds joint rotations, and
bone lengths come from the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_ray.mocap.clips import MotionClip, SourceAxes
from vla_ray.mocap.rotations import quat_from_axis_angle, quat_multiply

ROTATION_AXES = {"Xrotation": (1.0, 0.0, 0.0), "Yrotation": (0.0, 1.0, 0.0), "Zrotation": (0.0, 0.0, 1.0)}
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
# The common BVH convention (centimetres, y up, facing +z at rest); BVH has no header that says, so a file
# written otherwise needs its own values.
DEFAULT_LENGTH_UNIT_M = 0.01
DEFAULT_AXES = SourceAxes(up="+y", forward="+z")


@dataclass(frozen=True)
class _Joint:
    name: str
    offset: tuple[float, float, float]
    channels: tuple[str, ...]
    first_column: int  # of its channels in a frame line


class _Tokens:
    """Whitespace-separated words with their line numbers, for errors that say where."""

    def __init__(self, path: Path):
        self.path = path
        self.words = [(word, number) for number, line in enumerate(path.read_text().splitlines(), 1) for word in line.split()]
        self.index = 0

    def next(self, what: str) -> str:
        if self.index >= len(self.words):
            raise ValueError(f"{self.path}: file ends where {what} was expected")
        word = self.words[self.index][0]
        self.index += 1
        return word

    def expect(self, *expected: str) -> None:
        for word in expected:
            found = self.next(repr(word))
            if found != word:
                raise ValueError(f"{self.path}:{self.words[self.index - 1][1]}: found {found!r}: expected {word!r}")

    def number(self, what: str, kind: type = float):
        word = self.next(what)
        try:
            return kind(word)
        except ValueError:
            raise ValueError(f"{self.path}:{self.words[self.index - 1][1]}: {what}={word!r}: expected a number") from None

    def rest(self) -> list[str]:
        return [word for word, _ in self.words[self.index :]]


def load_bvh(
    path: str | Path, *, length_unit_m: float = DEFAULT_LENGTH_UNIT_M, axes: SourceAxes = DEFAULT_AXES,
    skeleton: str = "bvh",
) -> MotionClip:
    path = Path(path)
    if not length_unit_m > 0:
        raise ValueError(f"length_unit_m={length_unit_m!r}: expected a number > 0 (metres per file unit)")
    tokens = _Tokens(path)
    tokens.expect("HIERARCHY", "ROOT")
    joints: list[_Joint] = []
    _read_joint(tokens, joints)
    tokens.expect("MOTION", "Frames:")
    num_frames = tokens.number("Frames", int)
    tokens.expect("Frame", "Time:")
    frame_time_s = tokens.number("Frame Time")
    width = sum(len(joint.channels) for joint in joints)
    try:
        values = np.asarray(tokens.rest(), dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{path}: motion values: expected numbers ({error})") from None
    if values.size != num_frames * width:
        raise ValueError(
            f"{path}: {values.size} motion values: expected Frames ({num_frames}) x channels ({width}) = "
            f"{num_frames * width}"
        )
    if frame_time_s <= 0:
        raise ValueError(f"{path}: Frame Time={frame_time_s}: expected > 0 s")
    values = values.reshape(num_frames, width)
    root = joints[0]
    return MotionClip.from_source_frame(
        axes,
        name=path.name,
        skeleton=skeleton,
        fps=1.0 / frame_time_s,
        root_pos=(np.array(root.offset) + _root_translation(path, root, values)) * length_unit_m,
        root_quat=_rotation(root, values),
        joint_rotations={joint.name: _rotation(joint, values) for joint in joints[1:]},
        offsets_m={joint.name: np.array(joint.offset) * length_unit_m for joint in joints[1:]},
    )


def _read_joint(tokens: _Tokens, joints: list[_Joint]) -> None:
    """One ROOT or JOINT block (its keyword already read), its children appended after it."""
    name = tokens.next("a joint name")
    if any(joint.name == name for joint in joints):
        raise ValueError(f"{tokens.path}: joint {name!r} appears twice: expected unique joint names")
    tokens.expect("{", "OFFSET")
    offset = tuple(tokens.number(f"{name} OFFSET") for _ in range(3))
    tokens.expect("CHANNELS")
    channels = tuple(tokens.next(f"{name} channel") for _ in range(tokens.number(f"{name} CHANNELS", int)))
    for channel in channels:
        if channel not in ROTATION_AXES and channel not in POSITION_CHANNELS:
            raise ValueError(
                f"{tokens.path}: joint {name!r} channel {channel!r}: expected one of "
                f"{', '.join(POSITION_CHANNELS + tuple(ROTATION_AXES))}"
            )
    first_column = sum(len(joint.channels) for joint in joints)
    joints.append(_Joint(name, offset, channels, first_column))
    while (word := tokens.next(f"JOINT, End Site or '}}' in {name!r}")) != "}":
        if word == "JOINT":
            _read_joint(tokens, joints)
        elif word == "End":
            tokens.expect("Site", "{", "OFFSET")
            for _ in range(3):
                tokens.number(f"{name} End Site OFFSET")
            tokens.expect("}")
        else:
            raise ValueError(f"{tokens.path}: found {word!r} in joint {name!r}: expected JOINT, End Site or '}}'")


def _rotation(joint: _Joint, values: np.ndarray) -> np.ndarray:
    rotation = np.tile([1.0, 0.0, 0.0, 0.0], (len(values), 1))
    for k, channel in enumerate(joint.channels):
        if channel in ROTATION_AXES:
            angle = np.deg2rad(values[:, joint.first_column + k])
            rotation = quat_multiply(rotation, quat_from_axis_angle(ROTATION_AXES[channel], angle))
    return rotation


def _root_translation(path: Path, root: _Joint, values: np.ndarray) -> np.ndarray:
    missing = [c for c in POSITION_CHANNELS if c not in root.channels]
    if missing:
        raise ValueError(f"{path}: root {root.name!r} lacks channels {', '.join(missing)}: expected a moving root")
    return np.stack([values[:, root.first_column + root.channels.index(c)] for c in POSITION_CHANNELS], axis=1)
