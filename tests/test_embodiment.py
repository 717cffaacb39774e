"""Embodiment configs: validation errors that say what is wrong, presets, dict round trips."""

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vla_ray.embodiment import (
    EMBODIMENTS,
    HUMANOID,
    ActionScaling,
    EmbodimentConfig,
    JointSpec,
    embodiment_from_dict,
    embodiment_to_dict,
    get_embodiment,
)

PRESET_NAMES = ("franka_panda", "xarm6", "ur5e", "aloha", "baxter", "fetch", "hsr", "spot", "humanoid")

# The humanoid guide's 32-joint table, written out independently of the preset (right side mirrors left).
ARM_RANGES = [
    ("shoulder_pitch", -3.14, 3.14),
    ("shoulder_roll", -1.57, 1.57),
    ("shoulder_yaw", -3.14, 3.14),
    ("elbow", 0.0, 2.62),
    ("wrist_yaw", -3.14, 3.14),
    ("wrist_pitch", -1.57, 1.57),
    ("wrist_roll", -3.14, 3.14),
]
LEG_RANGES = [
    ("hip_yaw", -0.52, 0.52),
    ("hip_roll", -0.52, 0.52),
    ("hip_pitch", -1.57, 0.78),
    ("knee", 0.0, 2.62),
    ("ankle_pitch", -0.78, 0.78),
    ("ankle_roll", -0.26, 0.26),
]
HUMANOID_TABLE = (
    [("head_pan", -1.57, 1.57), ("head_tilt", -0.78, 0.78), ("head_roll", -0.52, 0.52)]
    + [("torso_yaw", -1.57, 1.57), ("torso_pitch", -0.52, 0.52), ("torso_roll", -0.26, 0.26)]
    + [(f"l_{n}", lo, hi) for n, lo, hi in ARM_RANGES]
    + [(f"r_{n}", lo, hi) for n, lo, hi in ARM_RANGES]
    + [(f"l_{n}", lo, hi) for n, lo, hi in LEG_RANGES]
    + [(f"r_{n}", lo, hi) for n, lo, hi in LEG_RANGES]
)


def two_joint_robot(**changes) -> EmbodimentConfig:
    values = dict(
        robot_type="single_arm",
        robot_name="toy",
        joints=(JointSpec("shoulder", -1.0, 1.0), JointSpec("elbow", 0.0, 2.0)),
        action_dim=3,
        ee_type="gripper",
        ee_action_dim=1,
    )
    values.update(changes)
    return EmbodimentConfig(**values)


def test_registry_lists_exactly_the_nine_presets():
    assert sorted(EMBODIMENTS) == sorted(PRESET_NAMES)
    for name, cfg in EMBODIMENTS.items():
        assert cfg.robot_name == name
        assert get_embodiment(name) is cfg


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_is_consistent_and_revalidates(name):
    cfg = get_embodiment(name)
    assert cfg.action_dim == cfg.num_joints + cfg.ee_action_dim
    assert cfg.model_path == f"{name}/scene.xml"
    assert np.all(cfg.joint_lower < cfg.joint_upper)
    assert np.all((cfg.joint_lower <= cfg.nominal_pose) & (cfg.nominal_pose <= cfg.joint_upper))
    # Rebuilding from the same fields runs __post_init__ again; a preset that only passed by accident fails here.
    assert cfg.with_overrides() == cfg


def test_preset_sizes_match_the_embodiment_guide():
    sizes = {name: (cfg.num_joints, cfg.action_dim, cfg.control_frequency_hz) for name, cfg in EMBODIMENTS.items()}
    assert sizes == {
        "franka_panda": (7, 8, 20.0),
        "xarm6": (6, 7, 100.0),
        "ur5e": (6, 7, 125.0),
        "aloha": (12, 14, 50.0),
        "baxter": (14, 16, 100.0),
        "fetch": (10, 11, 10.0),
        "hsr": (8, 9, 30.0),
        "spot": (12, 12, 100.0),
        "humanoid": (32, 32, 50.0),
    }
    assert get_embodiment("franka_panda").proprioception_dim == 14


def test_humanoid_joints_and_ranges_equal_the_guide_table():
    assert [(j.name, j.lower, j.upper) for j in HUMANOID.joints] == HUMANOID_TABLE
    assert all(j.kind == "hinge" for j in HUMANOID.joints)


def test_humanoid_has_32_joints_grouped_head_torso_arms_legs():
    groups = [j.group for j in HUMANOID.joints]
    expected = (
        ["head"] * 3 + ["torso"] * 3 + ["left_arm"] * 7 + ["right_arm"] * 7 + ["left_leg"] * 6 + ["right_leg"] * 6
    )
    assert HUMANOID.num_joints == 32
    assert groups == expected


def test_humanoid_stands_slightly_crouched_with_arms_off_the_body():
    home = dict(zip(HUMANOID.joint_names, HUMANOID.nominal_pose))
    bent = {"hip_pitch": -0.25, "knee": 0.5, "ankle_pitch": -0.25}
    arms = {"elbow": 0.3, "shoulder_roll": 0.15}
    expected = {name: 0.0 for name, _, _ in HUMANOID_TABLE}
    expected.update({f"{side}_{joint}": angle for side in "lr" for joint, angle in {**bent, **arms}.items()})
    assert home == expected


def test_humanoid_control_and_sensor_layout():
    assert HUMANOID.ee_type == "none" and HUMANOID.ee_action_dim == 0
    assert HUMANOID.interpolation_steps == 4
    assert HUMANOID.action_scaling == ActionScaling("nominal_offset", 0.25)
    # 32 positions + 32 velocities + imu 9 + contacts 4 + force/torque 12
    assert HUMANOID.proprioception_dim == 64 + 9 + 4 + 12


def test_joint_with_lower_above_upper_names_the_joint_and_both_values():
    with pytest.raises(ValueError) as err:
        JointSpec("l_knee", 2.5, 0.5, nominal=1.0)
    message = str(err.value)
    assert "l_knee" in message and "2.5" in message and "0.5" in message


def test_nominal_outside_the_range_names_the_joint():
    with pytest.raises(ValueError, match=r"panda_joint4.*nominal=0\.0"):
        JointSpec("panda_joint4", -3.0718, -0.0698)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1.0", None, True])
def test_non_finite_or_non_numeric_limit_is_rejected(bad):
    with pytest.raises(ValueError, match="lower"):
        JointSpec("elbow", bad, 1.0)


def test_unknown_joint_kind_is_rejected():
    with pytest.raises(ValueError, match=r"kind='ball'.*hinge, slide"):
        JointSpec("elbow", 0.0, 1.0, kind="ball")


def test_wrong_action_dim_names_action_dim_and_the_expected_value():
    with pytest.raises(ValueError, match=r"action_dim=4: expected num_joints \+ ee_action_dim = 3"):
        two_joint_robot(action_dim=4)


def test_end_effector_actions_are_not_tied_to_the_joint_count():
    cfg = two_joint_robot(action_type="end_effector", action_dim=7)
    assert cfg.action_dim == 7


def test_unknown_robot_type_names_the_field_and_the_choices():
    with pytest.raises(ValueError, match=r"robot_type='bipod'.*single_arm"):
        two_joint_robot(robot_type="bipod")


def test_ee_type_none_with_gripper_channels_is_rejected():
    with pytest.raises(ValueError, match=r"ee_action_dim=1: expected 0 when ee_type='none'"):
        two_joint_robot(ee_type="none")


def test_duplicate_joint_names_are_rejected():
    with pytest.raises(ValueError, match="repeated 'elbow'"):
        two_joint_robot(joints=(JointSpec("elbow", 0.0, 1.0), JointSpec("elbow", 0.0, 2.0)))


def test_empty_joints_and_empty_robot_name_are_rejected():
    with pytest.raises(ValueError, match="joints"):
        two_joint_robot(joints=(), action_dim=1)
    with pytest.raises(ValueError, match="robot_name"):
        two_joint_robot(robot_name="")


@pytest.mark.parametrize(
    "field, value",
    [
        ("action_bounds", (1.0, -1.0)),
        ("control_frequency_hz", 0.0),
        ("max_joint_velocity", -1.0),
        ("max_joint_acceleration", 0),
        ("interpolation_steps", 0),
        ("ee_action_dim", -1),
        ("action_type", "torque"),
        ("ee_type", "claw"),
    ],
)
def test_out_of_range_field_is_rejected_naming_it(field, value):
    with pytest.raises(ValueError, match=field):
        two_joint_robot(**{field: value})


def test_unknown_proprioception_sensor_is_rejected_listing_the_known_ones():
    with pytest.raises(ValueError, match=r"'lidar'.*joint_pos.*force_torque"):
        two_joint_robot(proprioception=("joint_pos", "lidar"))


def test_proprioception_dim_counts_each_sensor_group():
    cfg = two_joint_robot(proprioception=("joint_pos", "joint_vel", "joint_torque", "imu", "ee_pose", "gripper"))
    assert cfg.proprioception_dim == 2 + 2 + 2 + 9 + 7 + 1


def test_action_scaling_rejects_unknown_mode_and_non_positive_scale():
    with pytest.raises(ValueError, match="mode='tanh'"):
        ActionScaling("tanh")
    with pytest.raises(ValueError, match="scale=0"):
        ActionScaling("nominal_offset", 0)


def test_joint_arrays_follow_joint_order():
    spot = get_embodiment("spot")
    assert spot.joint_names[:3] == ("fl_hx", "fl_hy", "fl_kn")
    assert spot.joint_index("hr_kn") == 11
    np.testing.assert_array_equal(spot.nominal_pose[:3], [0.0, 0.8, -1.6])
    assert spot.joint_lower.dtype == np.float64 and spot.joint_lower.shape == (12,)


def test_joint_index_of_unknown_joint_names_the_robot_and_valid_joints():
    with pytest.raises(KeyError, match=r"'franka_panda'.*'panda_joint9'.*panda_joint1"):
        get_embodiment("franka_panda").joint_index("panda_joint9")


def test_get_embodiment_with_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as err:
        get_embodiment("nope")
    message = str(err.value)
    assert "'nope'" in message
    assert all(name in message for name in PRESET_NAMES)


def test_with_overrides_revalidates_and_rejects_unknown_fields():
    faster = HUMANOID.with_overrides(control_frequency_hz=100.0)
    assert faster.control_frequency_hz == 100.0 and HUMANOID.control_frequency_hz == 50.0
    with pytest.raises(ValueError, match="action_dim"):
        HUMANOID.with_overrides(action_dim=31)
    with pytest.raises(ValueError, match="'control_hz'"):
        HUMANOID.with_overrides(control_hz=100.0)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_dict_round_trip_is_exact_including_through_json(name):
    cfg = get_embodiment(name)
    data = embodiment_to_dict(cfg)
    assert embodiment_from_dict(data) == cfg
    through_json = json.loads(json.dumps(data))
    assert through_json == data
    assert embodiment_from_dict(through_json) == cfg


def test_from_dict_rejects_unknown_top_level_key_listing_valid_keys():
    data = embodiment_to_dict(HUMANOID)
    data["contol_frequency_hz"] = 50.0
    with pytest.raises(ValueError, match=r"unknown key 'contol_frequency_hz'.*control_frequency_hz"):
        embodiment_from_dict(data)


def test_from_dict_rejects_unknown_key_inside_a_joint_naming_the_joint():
    data = embodiment_to_dict(HUMANOID)
    data["joints"][9]["lowr"] = 0.0
    with pytest.raises(ValueError, match=r"joints\[9\] \(name='l_elbow'\): unknown key 'lowr'.*lower"):
        embodiment_from_dict(data)


def test_from_dict_rejects_unknown_key_in_action_scaling():
    data = embodiment_to_dict(HUMANOID)
    data["action_scaling"]["gain"] = 2.0
    with pytest.raises(ValueError, match=r"action_scaling: unknown key 'gain'"):
        embodiment_from_dict(data)


def test_from_dict_reports_missing_required_key():
    data = embodiment_to_dict(HUMANOID)
    del data["action_dim"]
    with pytest.raises(ValueError, match="missing key 'action_dim'"):
        embodiment_from_dict(data)


def test_from_dict_fills_defaults_and_accepts_integer_limits():
    cfg = embodiment_from_dict(
        {
            "robot_type": "single_arm",
            "robot_name": "toy",
            "joints": [{"name": "elbow", "lower": 0, "upper": 2}],
            "action_dim": 1,
        }
    )
    assert cfg.joints[0] == JointSpec("elbow", 0.0, 2.0)
    assert cfg.action_scaling == ActionScaling()
    assert embodiment_from_dict(embodiment_to_dict(cfg)) == cfg


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@given(a=finite, b=finite)
def test_any_distinct_finite_limit_pair_makes_a_valid_joint(a, b):
    if a == b:
        b = a + 1.0
    lower, upper = min(a, b), max(a, b)
    joint = JointSpec("j", lower, upper, nominal=lower)
    assert joint.lower < joint.upper
    assert (joint.lower, joint.upper) == (lower, upper)


@given(a=finite, b=finite)
def test_any_limit_pair_with_lower_not_below_upper_is_rejected(a, b):
    lower, upper = max(a, b), min(a, b)
    with pytest.raises(ValueError, match="expected lower < upper"):
        JointSpec("j", lower, upper, nominal=lower)
