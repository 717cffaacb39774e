"""Every preset robot has an MJCF model authored in the project whose joints and limits equal its preset;
a user's own MJCF loads against an EmbodimentConfig that names its joints, or fails saying what differs."""

import mujoco
import numpy as np
import pytest

from envs.assets import resolve_model_path
from envs.model_layout import ModelLayout
from vla_ray.embodiment import EMBODIMENTS, EmbodimentConfig, JointSpec

ARM_CAMERAS = {"single_arm": ("wrist", "overhead"), "mobile_manipulator": ("head", "wrist", "overhead"),
               "dual_arm": ("left_wrist", "right_wrist", "overhead"), "quadruped": ("head",), "humanoid": ("head",)}
HOME_KEYS = {"humanoid": "nominal"}


def _model(name: str) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(resolve_model_path(EMBODIMENTS[name].model_path)))


@pytest.mark.parametrize("name", sorted(EMBODIMENTS))
def test_model_compiles_with_exactly_the_presets_joints_limits_and_grippers(name):
    embodiment = EMBODIMENTS[name]
    model = _model(name)
    layout = ModelLayout.of(model, embodiment)
    for spec, adr in zip(embodiment.joints, layout.qpos):
        joint = model.joint(spec.name)
        assert joint.qposadr[0] == adr
        assert tuple(joint.range) == pytest.approx((spec.lower, spec.upper), abs=1e-4)
    assert layout.ee_actuators.size == embodiment.ee_action_dim
    for camera in ("track", *ARM_CAMERAS[embodiment.robot_type]):
        assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera) >= 0, camera


@pytest.mark.parametrize("name", sorted(EMBODIMENTS))
def test_home_keyframe_is_the_presets_nominal_pose_and_the_pd_holds_it(name):
    embodiment = EMBODIMENTS[name]
    model = _model(name)
    layout = ModelLayout.of(model, embodiment)
    key = model.key(HOME_KEYS.get(name, "home"))
    np.testing.assert_allclose(key.qpos[layout.qpos], embodiment.nominal_pose, atol=1e-6)
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, key.id)
    data.ctrl[layout.joint_actuators] = embodiment.nominal_pose
    mujoco.mj_step(model, data, nstep=int(round(1.0 / model.opt.timestep)))
    drift = np.abs(data.qpos[layout.qpos] - embodiment.nominal_pose)
    assert np.isfinite(data.qpos).all()
    assert drift.max() < 0.1, dict(zip(embodiment.joint_names, drift.round(3)))


USER_ARM = """
<mujoco>
  <compiler angle="radian"/>
  <worldbody>
    <body name="base">
      <joint name="j1" type="hinge" axis="0 0 1" range="-1.5 1.5"/>
      <geom type="capsule" fromto="0 0 0 0 0 0.3" size="0.03"/>
      <body name="link" pos="0 0 0.3">
        <joint name="j2" type="hinge" axis="0 1 0" range="-2 2"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03"/>
        <body name="finger" pos="0.3 0 0">
          <joint name="finger" type="slide" axis="0 1 0" range="0 0.04"/>
          <geom type="box" size="0.01 0.01 0.02"/>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position name="actuator1" joint="j1" kp="50" ctrlrange="-1.5 1.5"/>
    <position name="actuator2" joint="j2" kp="50" ctrlrange="-2 2"/>
    <position name="actuator3" joint="finger" kp="100" ctrlrange="0 255"/>
  </actuator>
</mujoco>
"""


def _user_arm(j2_range=(-2.0, 2.0), names=("j1", "j2")) -> EmbodimentConfig:
    return EmbodimentConfig(
        robot_type="single_arm", robot_name="user_arm",
        joints=(JointSpec(names[0], -1.5, 1.5), JointSpec(names[1], *j2_range)),
        action_dim=3, ee_type="gripper", ee_action_dim=1,
    )


def test_a_users_mjcf_loads_with_actuators_found_by_what_they_drive():
    model = mujoco.MjModel.from_xml_string(USER_ARM)
    layout = ModelLayout.of(model, _user_arm())
    assert layout.joint_actuators.tolist() == [0, 1]
    assert layout.ee_actuators.tolist() == [2]
    # Opening 0..1 spans the gripper actuator's own control range (Menagerie grippers use 0..255).
    np.testing.assert_allclose(layout.ee_ctrl(np.array([0.0, 0.5, 1.0])[:, None])[:, 0], [0.0, 127.5, 255.0])


def test_a_users_mjcf_with_other_limits_or_joints_fails_naming_what_differs():
    model = mujoco.MjModel.from_xml_string(USER_ARM)
    with pytest.raises(ValueError, match=r"joint j2 has range \(-2.0000, 2.0000\).*expected \(-1.0, 1.0\)"):
        ModelLayout.of(model, _user_arm(j2_range=(-1.0, 1.0)))
    with pytest.raises(ValueError, match="joint 'elbow' is in the EmbodimentConfig but not in the model"):
        ModelLayout.of(model, _user_arm(names=("j1", "elbow")))
    no_gripper = EmbodimentConfig(
        robot_type="single_arm", robot_name="user_arm",
        joints=(JointSpec("j1", -1.5, 1.5), JointSpec("j2", -2.0, 2.0)), action_dim=2,
    )
    with pytest.raises(ValueError, match="expected ee_action_dim=0 end-effector actuators"):
        ModelLayout.of(model, no_gripper)
