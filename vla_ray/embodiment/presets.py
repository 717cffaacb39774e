"""Preset robots as `EmbodimentConfig` instances, and a flat registry from robot name to preset.

Rates and action sizes come from the embodiment guide's Supported Embodiments section; joint
tables the guide does not give are the makers' published limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import pi

from vla_ray.embodiment.config import ActionScaling, EmbodimentConfig, JointSpec


def _joints(
    group: str,
    limits: tuple[tuple[str, float, float], ...],
    nominal: Mapping[str, float] | None = None,
    kind: str = "hinge",
) -> tuple[JointSpec, ...]:
    """Joints from (name, lower, upper) rows; the home pose is 0 unless `nominal` names the joint."""
    nominal = nominal or {}
    return tuple(
        JointSpec(name, lower, upper, nominal.get(name, 0.0), group, kind) for name, lower, upper in limits
    )


def _limb(
    group: str,
    prefix: str,
    limits: tuple[tuple[str, float, float], ...],
    home: Mapping[str, float] | None = None,
) -> tuple[JointSpec, ...]:
    """One limb of a repeated design: joint names get `prefix`, `home` is keyed by the unprefixed name."""
    home = home or {}
    return _joints(
        group,
        tuple((prefix + name, lower, upper) for name, lower, upper in limits),
        nominal={prefix + name: angle for name, angle in home.items()},
    )


def _scene(robot_name: str) -> str:
    return f"{robot_name}/scene.xml"


FRANKA_PANDA = EmbodimentConfig(
    robot_type="single_arm",
    robot_name="franka_panda",
    # seed: embodiment guide, Embodiment Configuration (FRANKA_CONFIG joint_limits)
    joints=_joints(
        "arm",
        (
            ("panda_joint1", -2.8973, 2.8973),
            ("panda_joint2", -1.7628, 1.7628),
            ("panda_joint3", -2.8973, 2.8973),
            ("panda_joint4", -3.0718, -0.0698),
            ("panda_joint5", -2.8973, 2.8973),
            ("panda_joint6", -0.0175, 3.7525),
            ("panda_joint7", -2.8973, 2.8973),
        ),
        # the usual "ready" pose: zero lies outside joint4's range
        nominal={"panda_joint2": -0.785, "panda_joint4": -2.356, "panda_joint6": 1.571, "panda_joint7": 0.785},
    ),
    action_dim=8,  # seed: embodiment guide, Supported Embodiments (7 joints + gripper)
    ee_type="gripper",
    ee_action_dim=1,
    control_frequency_hz=20.0,  # seed: embodiment guide, Supported Embodiments
    # maker's published limits (Franka Emika Panda datasheet): 2.175 rad/s joints 1-4, 2.61 rad/s joints 5-7;
    # the safety filter has one bound for all joints, so the lower one
    max_joint_velocity=2.175,
    model_path=_scene("franka_panda"),
)

XARM6 = EmbodimentConfig(
    robot_type="single_arm",
    robot_name="xarm6",
    # maker's published limits (UFACTORY xArm6)
    joints=_joints(
        "arm",
        (
            ("joint1", -2 * pi, 2 * pi),
            ("joint2", -2.059, 2.0944),
            ("joint3", -3.927, 0.19198),
            ("joint4", -2 * pi, 2 * pi),
            ("joint5", -1.69297, 3.14159),
            ("joint6", -2 * pi, 2 * pi),
        ),
    ),
    action_dim=7,  # seed: embodiment guide, Supported Embodiments (6 joints + gripper)
    ee_type="gripper",
    ee_action_dim=1,
    control_frequency_hz=100.0,  # seed: embodiment guide, Supported Embodiments
    max_joint_velocity=pi,  # maker's published limit (UFACTORY xArm6 specifications: 180 deg/s, all joints)
    model_path=_scene("xarm6"),
)

UR5E = EmbodimentConfig(
    robot_type="single_arm",
    robot_name="ur5e",
    # maker's published limits (Universal Robots UR5e; the elbow is restricted to half a turn each way)
    joints=_joints(
        "arm",
        (
            ("shoulder_pan_joint", -2 * pi, 2 * pi),
            ("shoulder_lift_joint", -2 * pi, 2 * pi),
            ("elbow_joint", -pi, pi),
            ("wrist_1_joint", -2 * pi, 2 * pi),
            ("wrist_2_joint", -2 * pi, 2 * pi),
            ("wrist_3_joint", -2 * pi, 2 * pi),
        ),
        # A "ready" pose, gripper pointing down 0.2 m above the workspace centre (solved by IK on the model). All
        # zeros stretches the arm out sideways: a singular pose, from which the hand can barely move along x.
        nominal={"shoulder_pan_joint": -0.27, "shoulder_lift_joint": -1.415, "elbow_joint": 2.051,
                 "wrist_1_joint": -2.207, "wrist_2_joint": -1.571, "wrist_3_joint": -0.27},
    ),
    action_dim=7,  # seed: embodiment guide, Supported Embodiments (6 joints + gripper)
    ee_type="gripper",
    ee_action_dim=1,
    control_frequency_hz=125.0,  # seed: embodiment guide, Supported Embodiments
    max_joint_velocity=pi,  # maker's published limit (Universal Robots UR5e specifications: 180 deg/s, all joints)
    model_path=_scene("ur5e"),
)

# maker's published limits (Trossen ViperX-300 6DOF, the arm ALOHA is built from)
_VIPERX_300 = (
    ("waist", -pi, pi),
    ("shoulder", -1.85, 1.26),
    ("elbow", -1.76, 1.61),
    ("forearm_roll", -pi, pi),
    ("wrist_angle", -1.87, 2.23),
    ("wrist_rotate", -pi, pi),
)

ALOHA = EmbodimentConfig(
    robot_type="dual_arm",
    robot_name="aloha",
    # The guide says both "14 joints, 7 per arm" and "action 14, one gripper per arm";
    # 6 arm joints + 1 gripper channel per arm satisfies both.
    joints=_limb("left_arm", "left_", _VIPERX_300) + _limb("right_arm", "right_", _VIPERX_300),
    action_dim=14,  # seed: embodiment guide, Supported Embodiments
    ee_type="gripper",
    ee_action_dim=2,  # seed: embodiment guide, Embodiment Configuration (one gripper per arm)
    control_frequency_hz=50.0,  # seed: embodiment guide, Supported Embodiments
    model_path=_scene("aloha"),
)

# maker's published limits (Rethink Robotics Baxter, one 7-DoF arm)
_BAXTER_ARM = (
    ("s0", -1.7016, 1.7016),
    ("s1", -2.147, 1.047),
    ("e0", -3.0541, 3.0541),
    ("e1", -0.05, 2.618),
    ("w0", -3.059, 3.059),
    ("w1", -1.5707, 2.094),
    ("w2", -3.059, 3.059),
)

BAXTER = EmbodimentConfig(
    robot_type="dual_arm",
    robot_name="baxter",
    joints=_limb("left_arm", "left_", _BAXTER_ARM) + _limb("right_arm", "right_", _BAXTER_ARM),
    action_dim=16,  # seed: embodiment guide, Supported Embodiments (7 joints + 1 gripper per arm)
    ee_type="gripper",
    ee_action_dim=2,
    control_frequency_hz=100.0,  # seed: embodiment guide, Supported Embodiments
    model_path=_scene("baxter"),
)

# The planar base as x, y (m) and yaw (rad); +-10 m bounds the workspace, it is not a hardware limit.
_PLANAR_BASE = _joints("base", (("base_x", -10.0, 10.0), ("base_y", -10.0, 10.0)), kind="slide") + _joints(
    "base", (("base_yaw", -pi, pi),)
)

FETCH = EmbodimentConfig(
    robot_type="mobile_manipulator",
    robot_name="fetch",
    # maker's published limits (Fetch Robotics); continuous roll joints are bounded to one turn
    joints=_PLANAR_BASE
    + _joints(
        "arm",
        (
            ("shoulder_pan", -1.6056, 1.6056),
            ("shoulder_lift", -1.221, 1.518),
            ("upperarm_roll", -pi, pi),
            ("elbow_flex", -2.251, 2.251),
            ("forearm_roll", -pi, pi),
            ("wrist_flex", -2.16, 2.16),
            ("wrist_roll", -pi, pi),
        ),
    ),
    action_dim=11,  # seed: embodiment guide, Supported Embodiments (7 arm + 3 base + gripper)
    ee_type="gripper",
    ee_action_dim=1,
    control_frequency_hz=10.0,  # seed: embodiment guide, Supported Embodiments
    model_path=_scene("fetch"),
)

HSR = EmbodimentConfig(
    robot_type="mobile_manipulator",
    robot_name="hsr",
    # maker's published limits (Toyota HSR); arm_lift is a prismatic lift in metres
    joints=_PLANAR_BASE
    + _joints("arm", (("arm_lift", 0.0, 0.69),), kind="slide")
    + _joints(
        "arm",
        (
            ("arm_flex", -2.62, 0.0),
            ("arm_roll", -2.09, 3.84),
            ("wrist_flex", -1.92, 1.22),
            ("wrist_roll", -1.92, 3.67),
        ),
    ),
    action_dim=9,  # seed: embodiment guide, Supported Embodiments (8 joints + gripper)
    ee_type="gripper",
    ee_action_dim=1,
    control_frequency_hz=30.0,  # seed: embodiment guide, Supported Embodiments
    model_path=_scene("hsr"),
)

# maker's published limits (Boston Dynamics Spot); hip x (abduction), hip y (flexion), knee
_SPOT_LEG = (("hx", -0.785, 0.785), ("hy", -0.898, 2.295), ("kn", -2.7929, -0.254))
_SPOT_STANDING = {"hx": 0.0, "hy": 0.8, "kn": -1.6}

SPOT = EmbodimentConfig(
    robot_type="quadruped",
    robot_name="spot",
    joints=tuple(
        joint
        for leg in ("fl", "fr", "hl", "hr")
        for joint in _limb(f"{leg}_leg", f"{leg}_", _SPOT_LEG, _SPOT_STANDING)
    ),
    action_dim=12,  # seed: embodiment guide, Embodiment Configuration (3 per leg)
    action_scaling=ActionScaling("nominal_offset", 0.5),  # legged_gym: PD targets around the standing pose
    control_frequency_hz=100.0,  # seed: embodiment guide, Embodiment Configuration (SPOT_CONFIG)
    proprioception=("joint_pos", "joint_vel", "imu", "contacts"),
    # A gait swings joints at several rad/s; the safety filter's per-step bound must allow it.
    max_joint_velocity=10.0,
    model_path=_scene("spot"),
)

# seed: humanoid guide, Joint Configuration (HUMANOID_JOINTS); right side mirrors the left
_HUMANOID_ARM = (
    ("shoulder_pitch", -3.14, 3.14),
    ("shoulder_roll", -1.57, 1.57),
    ("shoulder_yaw", -3.14, 3.14),
    ("elbow", 0.0, 2.62),
    ("wrist_yaw", -3.14, 3.14),
    ("wrist_pitch", -1.57, 1.57),
    ("wrist_roll", -3.14, 3.14),
)
_HUMANOID_LEG = (
    ("hip_yaw", -0.52, 0.52),
    ("hip_roll", -0.52, 0.52),
    ("hip_pitch", -1.57, 0.78),
    ("knee", 0.0, 2.62),
    ("ankle_pitch", -0.78, 0.78),
    ("ankle_roll", -0.26, 0.26),
)
# Slightly crouched stance with arms off the body: a stable PD reset pose and scaling centre.
_HUMANOID_ARM_HOME = {"shoulder_roll": 0.15, "elbow": 0.3}
_HUMANOID_LEG_HOME = {"hip_pitch": -0.25, "knee": 0.5, "ankle_pitch": -0.25}

HUMANOID = EmbodimentConfig(
    robot_type="humanoid",
    robot_name="humanoid",
    joints=(
        _joints("head", (("head_pan", -1.57, 1.57), ("head_tilt", -0.78, 0.78), ("head_roll", -0.52, 0.52)))
        + _joints("torso", (("torso_yaw", -1.57, 1.57), ("torso_pitch", -0.52, 0.52), ("torso_roll", -0.26, 0.26)))
        + _limb("left_arm", "l_", _HUMANOID_ARM, _HUMANOID_ARM_HOME)
        + _limb("right_arm", "r_", _HUMANOID_ARM, _HUMANOID_ARM_HOME)
        + _limb("left_leg", "l_", _HUMANOID_LEG, _HUMANOID_LEG_HOME)
        + _limb("right_leg", "r_", _HUMANOID_LEG, _HUMANOID_LEG_HOME)
    ),
    action_dim=32,
    ee_type="none",  # the hands are not actuated in this model
    # Training default: PD targets around the standing pose; "joint_limits" (the seed's mapping) stays selectable.
    action_scaling=ActionScaling("nominal_offset", 0.25),  # legged_gym humanoids (H1): 0.25 rad per unit action
    control_frequency_hz=50.0,  # seed: humanoid guide, HumanoidVLAConfig (control_frequency 50 Hz)
    interpolation_steps=4,  # PD substeps per control step
    proprioception=("joint_pos", "joint_vel", "imu", "contacts", "force_torque"),
    # A 50 Hz PD-position robot needs headroom to balance; the safety filter clamps the per-step target change.
    max_joint_velocity=10.0,
    collision_links=("left_foot", "right_foot", "left_hand", "right_hand", "pelvis", "torso", "head"),
    model_path=_scene("humanoid"),
)

EMBODIMENTS: dict[str, EmbodimentConfig] = {
    preset.robot_name: preset
    for preset in (FRANKA_PANDA, XARM6, UR5E, ALOHA, BAXTER, FETCH, HSR, SPOT, HUMANOID)
}


def get_embodiment(name: str) -> EmbodimentConfig:
    if name not in EMBODIMENTS:
        raise KeyError(f"unknown robot {name!r}: expected one of {', '.join(sorted(EMBODIMENTS))}")
    return EMBODIMENTS[name]
