"""Action scaling and the safety filter: the one definition shared by training, evaluation and serving."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vla_ray.control import ActionScaler, SafetyFilter
from vla_ray.embodiment import HUMANOID, ActionScaling, get_embodiment

LIMITS = HUMANOID.with_overrides(action_scaling=ActionScaling(mode="joint_limits"))


def test_joint_limits_scaling_maps_the_unit_box_exactly_onto_the_limits():
    scaler = ActionScaler(LIMITS)
    n = LIMITS.num_joints
    np.testing.assert_array_equal(scaler.to_targets(-np.ones(n)), LIMITS.joint_lower)
    np.testing.assert_array_equal(scaler.to_targets(np.ones(n)), LIMITS.joint_upper)
    np.testing.assert_allclose(scaler.to_targets(np.zeros(n)), (LIMITS.joint_lower + LIMITS.joint_upper) / 2)


def test_out_of_range_actions_are_clipped_to_the_limits():
    scaler = ActionScaler(LIMITS)
    n = LIMITS.num_joints
    np.testing.assert_array_equal(scaler.to_targets(5 * np.ones(n)), LIMITS.joint_upper)


def test_nominal_offset_scaling_centres_on_the_nominal_pose():
    scaler = ActionScaler(HUMANOID)
    assert HUMANOID.action_scaling.mode == "nominal_offset"
    np.testing.assert_allclose(scaler.to_targets(np.zeros(32)), HUMANOID.nominal_pose)
    step = scaler.to_targets(np.full(32, 0.1)) - HUMANOID.nominal_pose
    inside = (HUMANOID.nominal_pose + 0.05 <= HUMANOID.joint_upper)
    np.testing.assert_allclose(step[inside], 0.1 * HUMANOID.action_scaling.scale)


@given(arrays(np.float64, 32, elements=st.floats(-1, 1)))
def test_to_normalized_inverts_to_targets(action):
    scaler = ActionScaler(LIMITS)
    np.testing.assert_allclose(scaler.to_normalized(scaler.to_targets(action)), action, atol=1e-9)


def test_gripper_channel_maps_to_an_opening_between_zero_and_one():
    franka = get_embodiment("franka_panda")
    scaler = ActionScaler(franka)
    targets = scaler.to_targets(np.array([0.0] * 7 + [-1.0]))
    assert targets.shape == (8,) and targets[-1] == 0.0
    assert scaler.to_targets(np.array([0.0] * 7 + [1.0]))[-1] == 1.0


def test_wrong_action_width_is_refused():
    with pytest.raises(ValueError, match="action_dim=32"):
        ActionScaler(HUMANOID).to_targets(np.zeros(31))


finite = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    targets=arrays(np.float64, (3, 32), elements=st.one_of(finite, st.just(np.nan), st.just(np.inf))),
    unit=arrays(np.float64, (3, 32), elements=st.floats(0, 1)),
)
def test_safety_filter_output_is_finite_within_limits_and_rate(targets, unit):
    safety = SafetyFilter(HUMANOID)
    current = HUMANOID.joint_lower + unit * (HUMANOID.joint_upper - HUMANOID.joint_lower)
    safe, report = safety(targets, current)
    assert np.isfinite(safe).all()
    assert (safe >= HUMANOID.joint_lower).all() and (safe <= HUMANOID.joint_upper).all()
    assert (np.abs(safe - current) <= safety.max_step + 1e-12).all()
    bad_rows = ~np.isfinite(targets).all(axis=1)
    np.testing.assert_array_equal(report.fallback, bad_rows)
    np.testing.assert_allclose(safe[bad_rows], current[bad_rows])


def test_non_finite_output_holds_the_current_position_and_says_so():
    safety = SafetyFilter(HUMANOID)
    current = HUMANOID.nominal_pose[None]
    targets = current.copy()
    targets[0, 5] = np.nan
    safe, report = safety(targets, current)
    np.testing.assert_array_equal(safe, current)
    assert report.fallback.tolist() == [True] and report.intervened.tolist() == [True]


def test_velocity_clamp_limits_one_control_step_and_reports_the_joints():
    safety = SafetyFilter(HUMANOID)
    current = HUMANOID.nominal_pose[None]
    targets = current.copy()
    targets[0, 0] += 1.0  # head_pan jumps by 1 rad
    safe, report = safety(targets, current)
    expected_step = HUMANOID.max_joint_velocity / HUMANOID.control_frequency_hz
    assert safe[0, 0] == pytest.approx(current[0, 0] + expected_step)
    assert report.velocity_clamped[0].tolist() == [True] + [False] * 31
    assert not report.limit_clamped.any()


def test_limit_clamp_is_reported_per_joint():
    safety = SafetyFilter(HUMANOID)
    knee = HUMANOID.joint_index("l_knee")
    current = HUMANOID.nominal_pose.copy()[None]
    current[0, knee] = 0.05
    targets = current.copy()
    targets[0, knee] = -0.5  # below the knee's lower limit of 0
    safe, report = safety(targets, current)
    assert safe[0, knee] == 0.0
    assert report.limit_clamped[0, knee] and report.limit_clamped.sum() == 1
