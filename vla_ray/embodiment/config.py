"""A robot described as data: joints with limits, action layout, control rates, sensors, safety limits.

Everything downstream (environments, action scaling, safety filter, observation spec, serving)
reads the robot from one `EmbodimentConfig`; nothing else holds joint tables or rates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from vla_ray.configs import checked_keys, field_names

ROBOT_TYPES = ("single_arm", "dual_arm", "mobile_manipulator", "quadruped", "humanoid")
ACTION_TYPES = ("joint_position", "joint_velocity", "end_effector", "hybrid")
EE_TYPES = ("gripper", "suction", "hand", "none")
JOINT_KINDS = ("hinge", "slide")  # hinge: radians; slide: metres
ACTION_SCALING_MODES = ("joint_limits", "nominal_offset")

# Action types whose vector is one channel per joint followed by the end-effector channels.
JOINT_SPACE_ACTION_TYPES = ("joint_position", "joint_velocity")
# The end-effector action's pose channels (the embodiment guide's abstract action: dx, dy, dz, roll, pitch, yaw),
# followed by the end-effector channels.
EE_POSE_DELTA_DIM = 6

# Width of each proprioceptive sensor group; per-joint groups scale with the robot.
PER_JOINT_SENSORS = ("joint_pos", "joint_vel", "joint_torque")
FIXED_SENSOR_DIMS = {
    "imu": 9,  # gyro 3 + accelerometer 3 + gravity direction 3 (the humanoid guide's 6 plus projected gravity)
    "contacts": 4,  # seed: humanoid guide, Proprioception Encoder (contact_dim=4)
    "force_torque": 12,  # seed: humanoid guide, Proprioception Encoder (ft_dim=12)
    "ee_pose": 7,  # position 3 + quaternion 4
}
EE_CHANNEL_SENSORS = ("gripper",)  # one reading per end-effector action channel
PROPRIOCEPTION_SENSORS = PER_JOINT_SENSORS + tuple(FIXED_SENSOR_DIMS) + EE_CHANNEL_SENSORS


def _real(where: str, value: object, *, positive: bool = False) -> float:
    expected = "a finite number > 0" if positive else "a finite number"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{where}={value!r}: expected {expected}")
    if positive and value <= 0:
        raise ValueError(f"{where}={value!r}: expected {expected}")
    return float(value)


def _integer(where: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{where}={value!r}: expected an integer >= {minimum}")
    return int(value)


def _choice(where: str, value: object, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{where}={value!r}: expected one of {', '.join(options)}")
    return value


def _unique_names(where: str, value: object) -> tuple[str, ...]:
    # Lists and tuples only: a bare string would silently split into one-letter names.
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{where}={value!r}: expected a sequence of names")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}={value!r}: expected non-empty strings, got {name!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{where}={value!r}: expected unique names, repeated {', '.join(duplicates)}")
    return names


@dataclass(frozen=True)
class JointSpec:
    """One actuated joint; limits and nominal are in rad (hinge) or m (slide)."""

    name: str
    lower: float
    upper: float
    nominal: float = 0.0  # home pose: reset target and the centre of nominal_offset scaling
    group: str = ""  # body group, e.g. "head", "torso", "left_arm", "right_leg", "base"
    kind: str = "hinge"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"JointSpec.name={self.name!r}: expected a non-empty identifier")
        where = f"JointSpec(name={self.name!r})"
        for name in ("lower", "upper", "nominal"):
            object.__setattr__(self, name, _real(f"{where}.{name}", getattr(self, name)))
        if not self.lower < self.upper:
            raise ValueError(
                f"{where}.lower={self.lower!r}, upper={self.upper!r}: expected lower < upper"
            )
        if not self.lower <= self.nominal <= self.upper:
            raise ValueError(
                f"{where}.nominal={self.nominal!r}: expected within [{self.lower!r}, {self.upper!r}]"
            )
        if not isinstance(self.group, str):
            raise ValueError(f"{where}.group={self.group!r}: expected a string")
        _choice(f"{where}.kind", self.kind, JOINT_KINDS)


@dataclass(frozen=True)
class ActionScaling:
    """How a normalized action a in [-1, 1] becomes a joint target.

    "joint_limits":   target = lower + (a + 1) / 2 * (upper - lower)   (the seed's ActionScaler)
    "nominal_offset": target = clip(nominal + scale * a, lower, upper)  (legged_gym style)
    """

    mode: str = "joint_limits"
    scale: float = 0.5  # rad (or m) per unit action; read by nominal_offset only

    def __post_init__(self):
        _choice("ActionScaling.mode", self.mode, ACTION_SCALING_MODES)
        object.__setattr__(self, "scale", _real("ActionScaling.scale", self.scale, positive=True))


@dataclass(frozen=True)
class EmbodimentConfig:
    """A robot: model file, joints with limits, action layout, rates, sensors and safety limits."""

    robot_type: str
    robot_name: str
    joints: tuple[JointSpec, ...]
    action_dim: int
    action_type: str = "joint_position"
    action_bounds: tuple[float, float] = (-1.0, 1.0)
    action_scaling: ActionScaling = ActionScaling()
    ee_type: str = "none"
    ee_action_dim: int = 0  # end-effector channels appended after the joint channels
    ee_action_continuous: bool = True
    control_frequency_hz: float = 50.0
    interpolation_steps: int = 1  # low-level steps per control step
    proprioception: tuple[str, ...] = ("joint_pos", "joint_vel")
    max_joint_velocity: float = 1.0  # rad/s (m/s for slide joints); bounds the safety filter's per-step target change
    max_joint_acceleration: float = 2.0  # rad/s^2 (m/s^2 for slide joints)
    collision_links: tuple[str, ...] = ()
    # Relative paths are relative to envs/assets and resolved by the env package.
    model_path: str | None = None

    def __post_init__(self):
        if not isinstance(self.robot_name, str) or not self.robot_name:
            raise ValueError(
                f"EmbodimentConfig.robot_name={self.robot_name!r}: expected a non-empty string"
            )
        _choice(self._where("robot_type"), self.robot_type, ROBOT_TYPES)
        self._validate_joints()
        self._validate_action()
        self._validate_control()
        self._validate_sensors()
        if self.model_path is not None and (not isinstance(self.model_path, str) or not self.model_path):
            raise ValueError(f"{self._where('model_path')}={self.model_path!r}: expected None or a path")

    def _where(self, name: str) -> str:
        return f"EmbodimentConfig(robot_name={self.robot_name!r}).{name}"

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _validate_joints(self) -> None:
        where = self._where("joints")
        if not isinstance(self.joints, (list, tuple)) or not self.joints:
            raise ValueError(f"{where}={self.joints!r}: expected a non-empty sequence of JointSpec")
        self._set("joints", tuple(self.joints))
        for index, joint in enumerate(self.joints):
            if not isinstance(joint, JointSpec):
                raise ValueError(f"{where}[{index}]={joint!r}: expected a JointSpec")
        names = self.joint_names
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"{where}: expected unique joint names, repeated {', '.join(map(repr, duplicates))}")

    def _validate_action(self) -> None:
        _choice(self._where("action_type"), self.action_type, ACTION_TYPES)
        _choice(self._where("ee_type"), self.ee_type, EE_TYPES)
        self._set("ee_action_dim", _integer(self._where("ee_action_dim"), self.ee_action_dim, minimum=0))
        if self.ee_type == "none" and self.ee_action_dim != 0:
            raise ValueError(
                f"{self._where('ee_action_dim')}={self.ee_action_dim}: expected 0 when ee_type='none'"
            )
        if not isinstance(self.ee_action_continuous, bool):
            raise ValueError(
                f"{self._where('ee_action_continuous')}={self.ee_action_continuous!r}: expected a bool"
            )
        self._set("action_dim", _integer(self._where("action_dim"), self.action_dim, minimum=1))
        expected_dim = self.num_joints + self.ee_action_dim
        if self.action_type in JOINT_SPACE_ACTION_TYPES and self.action_dim != expected_dim:
            raise ValueError(
                f"{self._where('action_dim')}={self.action_dim}: "
                f"expected num_joints + ee_action_dim = {expected_dim}"
            )
        if self.action_type == "end_effector" and self.action_dim != EE_POSE_DELTA_DIM + self.ee_action_dim:
            raise ValueError(
                f"{self._where('action_dim')}={self.action_dim}: expected {EE_POSE_DELTA_DIM} pose-delta channels "
                f"+ ee_action_dim = {EE_POSE_DELTA_DIM + self.ee_action_dim} for action_type='end_effector'"
            )
        self._validate_action_bounds()
        if not isinstance(self.action_scaling, ActionScaling):
            raise ValueError(f"{self._where('action_scaling')}={self.action_scaling!r}: expected an ActionScaling")

    def _validate_action_bounds(self) -> None:
        where = self._where("action_bounds")
        bounds = self.action_bounds
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise ValueError(f"{where}={bounds!r}: expected a (low, high) pair")
        low, high = (_real(where, bound) for bound in bounds)
        if not low < high:
            raise ValueError(f"{where}={bounds!r}: expected low < high")
        self._set("action_bounds", (low, high))

    def _validate_control(self) -> None:
        for name in ("control_frequency_hz", "max_joint_velocity", "max_joint_acceleration"):
            self._set(name, _real(self._where(name), getattr(self, name), positive=True))
        self._set(
            "interpolation_steps",
            _integer(self._where("interpolation_steps"), self.interpolation_steps, minimum=1),
        )
        self._set("collision_links", _unique_names(self._where("collision_links"), self.collision_links))

    def _validate_sensors(self) -> None:
        where = self._where("proprioception")
        self._set("proprioception", _unique_names(where, self.proprioception))
        for name in self.proprioception:
            if name not in PROPRIOCEPTION_SENSORS:
                raise ValueError(
                    f"{where} includes {name!r}: expected sensors among {', '.join(PROPRIOCEPTION_SENSORS)}"
                )
            if name in EE_CHANNEL_SENSORS and self.ee_action_dim == 0:
                raise ValueError(f"{where} includes {name!r}: expected ee_action_dim > 0 to read it")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(joint.name for joint in self.joints)

    @property
    def joint_lower(self) -> np.ndarray:
        return np.array([joint.lower for joint in self.joints], dtype=np.float64)

    @property
    def joint_upper(self) -> np.ndarray:
        return np.array([joint.upper for joint in self.joints], dtype=np.float64)

    @property
    def nominal_pose(self) -> np.ndarray:
        return np.array([joint.nominal for joint in self.joints], dtype=np.float64)

    def sensor_dim(self, name: str) -> int:
        """Width of one proprioceptive sensor group on this robot."""
        if name in PER_JOINT_SENSORS:
            return self.num_joints
        if name in EE_CHANNEL_SENSORS:
            return self.ee_action_dim
        if name in FIXED_SENSOR_DIMS:
            return FIXED_SENSOR_DIMS[name]
        raise KeyError(f"unknown sensor {name!r}: expected one of {', '.join(PROPRIOCEPTION_SENSORS)}")

    @property
    def command_dim(self) -> int:
        """Width of a robot command: joint targets, then end-effector openings (equals action_dim for joint-space
        action types; an end-effector action is converted into one by inverse kinematics)."""
        return self.num_joints + self.ee_action_dim

    @property
    def proprioception_dim(self) -> int:
        return sum(self.sensor_dim(name) for name in self.proprioception)

    def joint_index(self, name: str) -> int:
        names = self.joint_names
        if name not in names:
            raise KeyError(
                f"robot {self.robot_name!r} has no joint {name!r}: expected one of {', '.join(names)}"
            )
        return names.index(name)

    def with_action_scaling(self, mode: str | None = None, scale: float | None = None) -> EmbodimentConfig:
        """This robot with an environment's action-scaling overrides (None keeps the preset's value)."""
        if mode is None and scale is None:
            return self
        return self.with_overrides(
            action_scaling=ActionScaling(mode=mode or self.action_scaling.mode, scale=scale or self.action_scaling.scale)
        )

    def with_action_type(self, action_type: str | None) -> EmbodimentConfig:
        """This robot driven by `action_type` actions (None keeps the preset's). "end_effector" is the embodiment
        guide's abstract action, the same for every single arm: a pose delta of the grasp site then the gripper."""
        if action_type is None or action_type == self.action_type:
            return self
        if action_type == "joint_position":
            return self.with_overrides(action_type=action_type, action_dim=self.command_dim)
        if action_type == "end_effector":
            if self.robot_type != "single_arm":
                raise ValueError(f"{self._where('action_type')}='end_effector': expected a single arm (one grasp "
                                 f"site to move), this robot is a {self.robot_type}")
            return self.with_overrides(action_type=action_type, action_dim=EE_POSE_DELTA_DIM + self.ee_action_dim)
        raise ValueError(f"{self._where('action_type')}={action_type!r}: expected joint_position or end_effector "
                         "(the action types the environments execute)")

    def with_overrides(self, **changes: Any) -> EmbodimentConfig:
        """A copy with some fields replaced, validated like a fresh config."""
        valid = field_names(EmbodimentConfig)
        unknown = [name for name in changes if name not in valid]
        if unknown:
            raise ValueError(
                f"EmbodimentConfig(robot_name={self.robot_name!r}) has no field "
                f"{', '.join(map(repr, unknown))}: expected one of {', '.join(valid)}"
            )
        return dataclasses.replace(self, **changes)


def embodiment_from_dict(data: Mapping[str, Any]) -> EmbodimentConfig:
    """Build a config from YAML/JSON-like data: joints as a list of mappings, action_scaling as a mapping."""
    values = checked_keys(EmbodimentConfig, data, "embodiment")
    joints = values["joints"]
    if not isinstance(joints, (list, tuple)):
        raise ValueError(f"embodiment.joints={joints!r}: expected a list of joint mappings")
    values["joints"] = tuple(
        JointSpec(**checked_keys(JointSpec, joint, f"embodiment.joints[{index}]"))
        for index, joint in enumerate(joints)
    )
    if "action_scaling" in values:
        values["action_scaling"] = ActionScaling(
            **checked_keys(ActionScaling, values["action_scaling"], "embodiment.action_scaling")
        )
    return EmbodimentConfig(**values)


def embodiment_to_dict(cfg: EmbodimentConfig) -> dict[str, Any]:
    """Plain lists, dicts and scalars (JSON/YAML-safe); `embodiment_from_dict` inverts it exactly."""
    data = {name: getattr(cfg, name) for name in field_names(EmbodimentConfig)}
    data["joints"] = [dataclasses.asdict(joint) for joint in cfg.joints]
    data["action_scaling"] = dataclasses.asdict(cfg.action_scaling)
    for name in ("action_bounds", "proprioception", "collision_links"):
        data[name] = list(data[name])
    return data
