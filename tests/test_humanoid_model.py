"""The MJCF humanoid authored in the project matches its preset and is human-scale."""

import mujoco
import numpy as np
import pytest

from envs.assets import resolve_model_path
from envs.humanoid.robot import FORCE_SENSORS, HumanoidBatch
from envs.model_layout import ModelLayout
from vla_ray.embodiment import HUMANOID, JointSpec


@pytest.fixture(scope="module")
def model():
    return mujoco.MjModel.from_xml_path(str(resolve_model_path(HUMANOID.model_path)))


def test_model_has_a_floating_base_and_exactly_the_preset_joints(model):
    assert model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
    hinges = [model.joint(i) for i in range(model.njnt) if model.jnt_type[i] == mujoco.mjtJoint.mjJNT_HINGE]
    assert len(hinges) == 32 and model.nu == 32
    for spec in HUMANOID.joints:
        assert tuple(model.joint(spec.name).range) == pytest.approx((spec.lower, spec.upper), abs=1e-6)
    ModelLayout.of(model, HUMANOID)


def test_body_is_human_scale_in_the_nominal_pose(model):
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("nominal").id)
    mujoco.mj_forward(model, data)
    mass = model.body_subtreemass[model.body("pelvis").id]
    assert 50.0 <= mass <= 80.0
    head = model.body("head").id
    top = max(
        data.geom_xpos[g][2] + model.geom_rbound[g] for g in range(model.ngeom) if model.geom_bodyid[g] == head
    )
    assert 1.6 <= top <= 1.8
    assert (model.body_inertia[1:] > 0).all()


def test_sensors_give_imu_contacts_and_twelve_force_values(model):
    dims = {model.sensor(i).name: int(model.sensor(i).dim[0]) for i in range(model.nsensor)}
    assert dims["imu_gyro"] == 3 and dims["imu_accel"] == 3
    assert [dims[n] for n in ("left_foot_touch", "right_foot_touch", "left_hand_touch", "right_hand_touch")] == [1] * 4
    assert sum(dims[n] for n in FORCE_SENSORS) == 12


def test_pd_gains_are_set_per_group_with_legs_stiffer_than_arms(model):
    kp = {model.actuator(i).name: model.actuator_gainprm[i, 0] for i in range(model.nu)}
    assert kp["l_knee"] > kp["l_elbow"] > kp["l_wrist_roll"]
    assert kp["l_knee"] == kp["r_knee"] and kp["l_elbow"] == kp["r_elbow"]


def test_robot_holding_the_nominal_pose_stays_standing(model):
    robots = HumanoidBatch(HUMANOID, HUMANOID.model_path, 0.005, 1)
    robots.reset(0, robots.nominal_qpos)
    targets = HUMANOID.nominal_pose[None]
    for _ in range(250):  # 5 s at 50 Hz
        robots.step(targets, 4, np.array([True]))
    readout = robots.read()
    assert readout.base_height_m[0] > 0.95 * robots.nominal_base_height_m
    assert abs(readout.roll_rad[0]) < 0.1 and abs(readout.pitch_rad[0]) < 0.1
    assert readout.contacts[0, :2].tolist() == [1.0, 1.0]


def test_mismatched_joint_range_is_reported_with_the_joint(model):
    joints = list(HUMANOID.joints)
    knee = HUMANOID.joint_index("l_knee")
    joints[knee] = JointSpec("l_knee", 0.0, 2.0, 0.5, "left_leg")
    wrong = HUMANOID.with_overrides(joints=tuple(joints))
    with pytest.raises(ValueError, match="l_knee.*expected \\(0.0, 2.0\\)"):
        ModelLayout.of(model, wrong)


def test_missing_model_file_names_the_path():
    with pytest.raises(FileNotFoundError, match="nowhere/robot.xml"):
        resolve_model_path("nowhere/robot.xml")
