"""Damped-least-squares IK on the project's humanoid (left arm, floating base held fixed) and a planar arm."""

import mujoco
import numpy as np
import pytest

from envs.assets import resolve_model_path
from vla_ray.control.ik import DampedLeastSquaresIK, orientation_error

LEFT_ARM = (
    "l_shoulder_pitch", "l_shoulder_roll", "l_shoulder_yaw", "l_elbow", "l_wrist_yaw", "l_wrist_pitch", "l_wrist_roll",
)
SITE = "left_wrist_ft"

# Three links of 0.3 + 0.25 + 0.2 m turning about z: a reach of 0.75 m in the xy plane.
PLANAR_ARM_XML = """
<mujoco>
  <compiler angle="radian"/>
  <worldbody>
    <body name="link1">
      <joint name="j1" axis="0 0 1" range="-3 3"/>
      <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.02"/>
      <body name="link2" pos="0.3 0 0">
        <joint name="j2" axis="0 0 1" range="-2.5 2.5"/>
        <geom type="capsule" fromto="0 0 0 0.25 0 0" size="0.02"/>
        <body name="link3" pos="0.25 0 0">
          <joint name="j3" axis="0 0 1" range="-2.5 2.5"/>
          <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.02"/>
          <site name="tip" pos="0.2 0 0"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module")
def model():
    return mujoco.MjModel.from_xml_path(str(resolve_model_path("humanoid/scene.xml")))


@pytest.fixture
def data(model):
    """The nominal pose with the base moved and turned away from the origin, so a solver that moved
    or ignored the base would miss."""
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("nominal").id)
    data.qpos[:3] = (0.4, -0.3, 0.95)
    data.qpos[3:7] = (np.cos(0.35), 0.0, 0.0, np.sin(0.35))  # 0.7 rad about z
    mujoco.mj_forward(model, data)
    return data


@pytest.fixture(scope="module")
def ik(model):
    return DampedLeastSquaresIK(model, SITE, LEFT_ARM)


def site_pose(model, data, arm_qpos=None):
    """World position and quaternion of the site, with the arm at `arm_qpos` and everything else as in data."""
    probe = mujoco.MjData(model)
    mujoco.mj_copyData(probe, model, data)
    if arm_qpos is not None:
        probe.qpos[[model.joint(n).qposadr[0] for n in LEFT_ARM]] = arm_qpos
    mujoco.mj_kinematics(model, probe)
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, probe.site(SITE).xmat)
    return probe.site(SITE).xpos.copy(), quat


def pose_errors(model, data, arm_qpos, target_pos, target_quat):
    pos, quat = site_pose(model, data, arm_qpos)
    return np.linalg.norm(target_pos - pos), np.linalg.norm(orientation_error(target_quat, quat))


@pytest.mark.parametrize("with_orientation", [True, False], ids=["pose", "position"])
def test_random_reachable_targets_are_reached_within_2mm_and_0_02rad(model, data, ik, with_orientation):
    """Targets are the site's pose at random arm configurations within the limits, so each is reachable."""
    reached = 0
    for seed in range(50):
        target_pos, target_quat = site_pose(model, data, np.random.default_rng(seed).uniform(ik.lower, ik.upper))
        result = ik.solve(data, target_pos, target_quat if with_orientation else None)
        # Checked by forward kinematics with the base where the caller had it, not by the solver's word.
        position_error_m, orientation_error_rad = pose_errors(model, data, result.qpos, target_pos, target_quat)
        assert result.position_error_m == pytest.approx(position_error_m, abs=1e-9)
        reached += position_error_m < 2e-3 and (orientation_error_rad < 0.02 or not with_orientation)
        assert result.converged == (result.position_error_m <= 1e-3 and result.orientation_error_rad <= 1e-2)
    assert reached >= 48


def test_solve_leaves_the_callers_simulation_untouched(model, data, ik):
    before = {name: getattr(data, name).copy() for name in ("qpos", "qvel", "ctrl", "site_xpos", "xpos", "qacc")}
    target_pos, target_quat = site_pose(model, data, np.random.default_rng(7).uniform(ik.lower, ik.upper))
    assert ik.solve(data, target_pos, target_quat).converged
    ik.step(data, target_pos, target_quat)
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(data, name), value, err_msg=name)


def test_joints_stay_within_their_limits_even_for_targets_out_of_reach(model, data, ik):
    shoulder = data.body("left_upper_arm").xpos
    rng = np.random.default_rng(3)
    for _ in range(10):
        direction = rng.normal(size=3)
        target = shoulder + 1.5 * direction / np.linalg.norm(direction)  # the arm is about 0.55 m long
        quat = rng.normal(size=4)
        result = ik.solve(data, target, quat, iterations=50)
        assert not result.converged
        for joints in (result.qpos, ik.step(data, target, quat)):
            assert np.all((ik.lower <= joints) & (joints <= ik.upper))


def test_step_reduces_the_error_at_every_update_toward_a_nearby_target(model, data, ik):
    arm = [model.joint(n).qposadr[0] for n in LEFT_ARM]
    nearby = np.clip(data.qpos[arm] + np.random.default_rng(1).uniform(-0.2, 0.2, len(arm)), ik.lower, ik.upper)
    target_pos, target_quat = site_pose(model, data, nearby)

    def weighted_error():
        position_error_m, orientation_error_rad = pose_errors(model, data, data.qpos[arm], target_pos, target_quat)
        return np.hypot(position_error_m, ik.orientation_weight * orientation_error_rad)

    errors = [weighted_error()]
    for _ in range(20):
        data.qpos[arm] = ik.step(data, target_pos, target_quat)  # a perfect position servo
        errors.append(weighted_error())
    assert errors[0] > 0.02
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]) if earlier > 1e-9)
    assert errors[-1] < 1e-4


def test_unknown_names_raise_and_list_what_the_model_has(model):
    with pytest.raises(ValueError, match=r"site='left_wrist'.*'left_wrist_ft'"):
        DampedLeastSquaresIK(model, "left_wrist", LEFT_ARM)
    with pytest.raises(ValueError, match=r"\['l_elbo'\].*'l_elbow'"):
        DampedLeastSquaresIK(model, SITE, ("l_shoulder_pitch", "l_elbo"))
    with pytest.raises(ValueError, match=r"'root' is a mjJNT_FREE joint: expected hinge or slide"):
        DampedLeastSquaresIK(model, SITE, ("root", *LEFT_ARM))


@pytest.mark.parametrize(
    ("argument", "value"),
    [("damping", 0.0), ("max_step_rad", -0.1), ("orientation_weight", float("nan")), ("joint_names", "l_elbow")],
)
def test_bad_settings_raise_naming_the_argument(model, argument, value):
    settings = {"site": SITE, "joint_names": LEFT_ARM, argument: value}
    with pytest.raises(ValueError, match=argument):
        DampedLeastSquaresIK(model, **settings)


def test_unreachable_target_stretches_a_planar_arm_toward_it_without_nans():
    model = mujoco.MjModel.from_xml_string(PLANAR_ARM_XML)
    data = mujoco.MjData(model)
    data.qpos[:] = (0.3, 0.8, -0.6)  # folded
    target = np.array([0.5, 0.9, 0.0])  # 1.03 m away, beyond the 0.75 m reach

    result = DampedLeastSquaresIK(model, "tip", ("j1", "j2", "j3")).solve(data, target)
    assert not result.converged
    assert np.isfinite(result.qpos).all()
    data.qpos[:] = result.qpos
    mujoco.mj_kinematics(model, data)
    tip = data.site("tip").xpos
    assert np.linalg.norm(tip) > 0.99 * 0.75
    assert np.arccos(tip @ target / np.linalg.norm(tip) / np.linalg.norm(target)) < 0.01
    assert result.position_error_m < np.linalg.norm(target) - 0.75 + 5e-3
