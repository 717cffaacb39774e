"""RetargetConfig: how one source skeleton's joints map onto one robot's hinges, validated against the robot;
and the preset maps, keyed by (source skeleton, robot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from vla_ray.configs import checked_keys
from vla_ray.embodiment import HUMANOID, EmbodimentConfig
from vla_ray.mocap import deepmimic

MAX_HINGES = 3  # a ball joint is at most three hinges


@dataclass(frozen=True)
class RetargetConfig:
    """How one source skeleton maps onto one robot."""

    embodiment: EmbodimentConfig
    joint_map: Mapping[str, tuple[str, ...]]  # source joint -> the robot hinges (1 to 3) that reproduce its rotation
    # Each leg's joints hip -> knee -> ankle, the hip a child of the root: source offsets and robot joint anchors
    # at rest give the legs' lengths and where the hips sit below the root.
    source_legs: tuple[tuple[str, ...], ...]
    robot_legs: tuple[tuple[str, ...], ...]
    feet: tuple[str, ...]  # robot bodies whose contacts are labelled
    # Measured on the shared DeepMimic clips: planted feet roll heel to toe at under 0.2 m/s and swinging feet
    # move at over 1 m/s; planted feet sit within 2 cm of the floor.
    contact_speed_mps: float = 0.5  # a foot moving horizontally at most this fast is planted ...
    contact_height_m: float = 0.04  # ... and in contact when its lowest point is at most this high

    def __post_init__(self):
        if not isinstance(self.embodiment, EmbodimentConfig):
            raise ValueError(f"RetargetConfig.embodiment={self.embodiment!r}: expected an EmbodimentConfig")
        robot = self.embodiment
        where = f"RetargetConfig(robot={robot.robot_name!r})"
        if not isinstance(self.joint_map, Mapping) or not self.joint_map:
            raise ValueError(f"{where}.joint_map={self.joint_map!r}: expected a mapping source joint -> robot hinges")
        joint_map, used = {}, []
        for source, hinges in self.joint_map.items():
            hinges = _names(f"{where}.joint_map[{source!r}]", hinges, 1, MAX_HINGES)
            _robot_joints(f"{where}.joint_map[{source!r}]", robot, hinges)
            joint_map[source] = hinges
            used.extend(hinges)
        repeated = sorted({name for name in used if used.count(name) > 1})
        if repeated:
            raise ValueError(f"{where}.joint_map: robot joints {', '.join(repeated)} are mapped twice: expected once")
        object.__setattr__(self, "joint_map", joint_map)
        object.__setattr__(self, "source_legs", _legs(f"{where}.source_legs", self.source_legs))
        object.__setattr__(self, "robot_legs", _legs(f"{where}.robot_legs", self.robot_legs))
        for leg in self.robot_legs:
            _robot_joints(f"{where}.robot_legs", robot, leg)
        object.__setattr__(self, "feet", _names(f"{where}.feet", self.feet, 1, None))
        for name in ("contact_speed_mps", "contact_height_m"):
            _positive(f"{where}.{name}", getattr(self, name))

    @classmethod
    def from_dict(cls, data: Mapping, embodiment: EmbodimentConfig) -> RetargetConfig:
        """From YAML-like data: every field but the embodiment, which the caller names (--robot)."""
        if not isinstance(data, Mapping) or "embodiment" in data:
            raise ValueError(f"retarget map={data!r}: expected a mapping of RetargetConfig fields without 'embodiment'")
        return cls(**checked_keys(cls, {**data, "embodiment": embodiment}, "retarget map"))


def _names(where: str, value: object, least: int, most: int | None) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"{where}={value!r}: expected a list of names")
    names = tuple(value)
    if not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"{where}={value!r}: expected non-empty strings")
    if len(names) < least or (most is not None and len(names) > most) or len(set(names)) != len(names):
        count = f"{least} to {most}" if most is not None else f"at least {least}"
        raise ValueError(f"{where}={value!r}: expected {count} distinct names")
    return names


def _legs(where: str, value: object) -> tuple[tuple[str, ...], ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{where}={value!r}: expected a list of legs, each a list of joint names hip -> ankle")
    return tuple(_names(f"{where}[{i}]", leg, 2, None) for i, leg in enumerate(value))


def _robot_joints(where: str, robot: EmbodimentConfig, names: tuple[str, ...]) -> None:
    unknown = [name for name in names if name not in robot.joint_names]
    if unknown:
        raise ValueError(
            f"{where}: unknown joints {', '.join(map(repr, unknown))}: expected joints of robot {robot.robot_name!r}"
        )
    slides = [name for name in names if robot.joints[robot.joint_index(name)].kind != "hinge"]
    if slides:
        raise ValueError(f"{where}: joints {', '.join(map(repr, slides))} are not hinges: expected hinge joints")


def _positive(where: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{where}={value!r}: expected a finite number > 0")


# The DeepMimic humanoid3d skeleton onto the project's humanoid: both stand with straight legs and arms hanging
# at rest, so identity source rotations are the robot's zero pose. The source has no wrists (they stay at 0),
# and its ankle is a ball joint the robot's two ankle hinges approximate (the foot's yaw is dropped).
DEEPMIMIC_TO_HUMANOID = RetargetConfig(
    embodiment=HUMANOID,
    joint_map={
        "chest": ("torso_yaw", "torso_pitch", "torso_roll"),
        "neck": ("head_pan", "head_tilt", "head_roll"),
        **{
            f"{side}_{joint}": tuple(f"{prefix}_{hinge}" for hinge in hinges)
            for side, prefix in (("left", "l"), ("right", "r"))
            for joint, hinges in (
                ("hip", ("hip_yaw", "hip_roll", "hip_pitch")),
                ("knee", ("knee",)),
                ("ankle", ("ankle_pitch", "ankle_roll")),
                ("shoulder", ("shoulder_pitch", "shoulder_roll", "shoulder_yaw")),
                ("elbow", ("elbow",)),
            )
        },
    },
    source_legs=(("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle")),
    robot_legs=(("l_hip_pitch", "l_knee", "l_ankle_pitch"), ("r_hip_pitch", "r_knee", "r_ankle_pitch")),
    feet=("left_foot", "right_foot"),
)

# (source skeleton, robot) -> the map used when none is given.
RETARGET_PRESETS: dict[tuple[str, str], RetargetConfig] = {(deepmimic.SKELETON, "humanoid"): DEEPMIMIC_TO_HUMANOID}


def retarget_preset(skeleton: str, robot: str) -> RetargetConfig:
    if (skeleton, robot) not in RETARGET_PRESETS:
        known = ", ".join(f"{s} -> {r}" for s, r in RETARGET_PRESETS)
        raise KeyError(f"no retarget map for skeleton {skeleton!r} -> robot {robot!r}: expected one of {known}, or a map file")
    return RETARGET_PRESETS[(skeleton, robot)]
