"""The manipulation environments on real MuJoCo physics: spaces, tasks, success, visual variants, settings."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.manipulation import rewards
from envs.manipulation.env import ManipulationEnv, ManipulationVecEnv


def _hold(env: ManipulationVecEnv) -> np.ndarray:
    """The normalized action that keeps every robot where it is (grippers as measured)."""
    return env.commander.scaler.to_normalized(env.sim.positions())


def test_reach_env_passes_gymnasiums_checker_and_observations_lie_in_their_space():
    env = ManipulationEnv(embodiment="franka_panda", task="reach")
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert info["instruction"] == "move the gripper to the green target"
    assert env.observation_space.contains(obs)
    assert set(obs) >= {"joint_pos", "gripper", "ee_pos", "goal_pos", "prev_action", "instruction"}
    env.close()


def test_reach_succeeds_exactly_when_the_gripper_is_at_the_target():
    env = ManipulationVecEnv(num_envs=2, embodiment="franka_panda", task="reach", reset_joint_noise_rad=0.0)
    env.reset(seed=0)
    env._placed_goal[0] = env.sim.site_positions(env._ee_sites)[0, 0]  # robot 0: target where its gripper is
    for _ in range(3):
        _, reward, _, _, _ = env.step(_hold(env))
    assert env._last_success.tolist() == [True, False]
    assert reward[0] > reward[1]
    env.close()


def test_pick_place_starts_with_the_cube_resting_on_the_table_away_from_the_target():
    env = ManipulationVecEnv(num_envs=4, embodiment="franka_panda", task="pick_place")
    env.reset(seed=1)
    for _ in range(5):
        env.step(_hold(env))
    state = env._state
    assert state.table_contact[:, 0].all()
    assert not state.holding.any()
    assert (np.linalg.norm(state.object_pos[:, 0, :2] - state.goal_pos[:, :2], axis=1) >= 0.1).all()
    assert not env._last_success.any()
    env.close()


def test_visual_variant_sees_a_camera_image_and_keeps_object_poses_for_the_critic_only():
    env = ManipulationVecEnv(num_envs=1, embodiment="franka_panda", task="pick_place", camera="overhead",
                             camera_size=(48, 64))
    obs, _ = env.reset(seed=0)
    assert obs["camera_rgb"].shape == (1, 48, 64, 3) and obs["camera_rgb"].std() > 5
    assert "object_pos" not in obs
    assert not env.observation_spec.part("privileged").policy_input
    np.testing.assert_allclose(obs["privileged"][0, -9:-6], env._state.object_pos[0, 0] - env.workspace.centre, atol=1e-5)
    env.close()


def test_settings_change_at_the_next_reset_and_space_shaping_settings_are_refused():
    env = ManipulationVecEnv(num_envs=1, embodiment="franka_panda", task="reach")
    env.reset(seed=0)
    env.apply_settings({"randomization": {"friction": (0.5, 0.6)}})
    assert env._configs[0].randomization_config().friction is None  # not before the episode ends
    env.reset(seed=1)
    assert env._configs[0].randomization_config().friction == (0.5, 0.6)
    with pytest.raises(ValueError, match="camera"):
        env.apply_settings({"camera": "wrist"})
    with pytest.raises(ValueError, match="friction"):
        env.apply_settings({"randomization": {"friction": (2.0, 1.0)}})
    env.close()


def test_reward_weight_overrides_change_the_reward_and_unknown_terms_are_refused():
    """The settings' reward_weights override the task's per term: the reward equals the terms at the new weights."""
    plain = ManipulationVecEnv(num_envs=1, embodiment="franka_panda", task="reach")
    tuned = ManipulationVecEnv(num_envs=1, embodiment="franka_panda", task="reach",
                               reward_weights={"approach_goal": 2.0, "action_rate": 0.0})
    try:
        for env in (plain, tuned):
            env.reset(seed=4)
        action = _hold(plain)
        _, reward_plain, *_ = plain.advance(action)
        _, reward_tuned, *_ = tuned.advance(action)
        state = tuned._state
        extra = 2.0 * rewards.approach_goal(state) + 0.5 * rewards.action_rate(state)
        np.testing.assert_allclose(reward_tuned - reward_plain, extra * tuned.control_dt_s, rtol=1e-6, atol=1e-12)
        assert reward_tuned[0] > reward_plain[0]
        with pytest.raises(ValueError, match=r"unknown terms \['reach_gaol'\]"):
            tuned.apply_settings({"reward_weights": {"reach_gaol": 1.0}})
    finally:
        plain.close()
        tuned.close()
    with pytest.raises(ValueError, match="unknown terms"):
        ManipulationVecEnv(num_envs=1, embodiment="franka_panda", task="reach", reward_weights={"lift": 1.0})


def test_a_task_for_another_kind_of_robot_is_refused_by_name():
    with pytest.raises(ValueError, match="embodiment.*single_arm"):
        ManipulationVecEnv(num_envs=1, embodiment="spot", task="reach")
