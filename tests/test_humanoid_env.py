"""The humanoid locomotion environment: gymnasium contract, rewards and terminations as specified."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.humanoid.env import HumanoidLocomotionEnv, HumanoidLocomotionVecEnv
from envs.humanoid.tasks import STAND_REWARD_WEIGHTS, WALK_REWARD_WEIGHTS
from envs.randomization import RandomizationConfig
from vla_ray.language import decode_instruction

ENV_ID = f"envs:{envs.HUMANOID_LOCOMOTION_ID}"
POLICY_PARTS = {"joint_pos", "joint_vel", "imu", "contacts", "force_torque", "command", "prev_action", "instruction"}


def test_env_passes_gymnasium_checker_and_is_registered():
    env = gym.make(ENV_ID)
    check_env(env.unwrapped)
    spec = env.unwrapped.observation_spec
    assert set(spec.names) == set(env.observation_space.spaces)
    assert {p.name for p in spec.policy_parts} == POLICY_PARTS  # what a served policy needs
    assert not spec.part("privileged").policy_input
    assert env.action_space.shape == (32,) and env.action_space.low.min() == -1.0


def test_observations_lie_in_their_space_across_an_episode_with_falls():
    # the seed's randomization: pushes up to 100 N, sensor noise, latency, per-robot physics
    env = gym.make(ENV_ID, randomization=RandomizationConfig.seed_defaults().to_dict(), episode_length_s=2.0)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(200):
        obs, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 32).astype(np.float32))
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            obs, _ = env.reset()


def test_holding_the_nominal_pose_upright_collects_survival_reward():
    env = HumanoidLocomotionEnv(task="stand", reset_joint_noise_rad=0.0)
    env.reset(seed=0)
    for _ in range(100):  # 2 s
        _, reward, terminated, truncated, _ = env.step(np.zeros(32, dtype=np.float32))
        assert not terminated and not truncated
    w = STAND_REWARD_WEIGHTS
    # upright (height ~ nominal) + survival + both feet down, minus no action change; weights are per second
    assert reward == pytest.approx((w["upright_bonus"] + w["survival"] + w["feet_on_ground"]) * env.control_dt_s, rel=0.03)


def test_dropped_robot_terminates_by_a_named_term():
    env = HumanoidLocomotionEnv(task="stand")
    env.reset(seed=0)
    data = env.vector.robots.datas[0]
    data.qpos[3:7] = [np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0]  # lying on its side, 90 degrees roll
    data.qpos[2] = 0.5
    info, terminated = {}, False
    for _ in range(100):
        _, _, terminated, truncated, info = env.step(np.zeros(32, dtype=np.float32))
        if terminated:
            break
    assert terminated
    assert info["episode"]["fell"] and info["episode"]["termination"] in ("base_too_low", "excessive_tilt")


def test_truncation_at_the_configured_episode_length():
    env = HumanoidLocomotionEnv(task="stand", episode_length_s=0.5, reset_joint_noise_rad=0.0)
    env.reset(seed=0)
    for step in range(1, 26):
        _, _, terminated, truncated, info = env.step(np.zeros(32, dtype=np.float32))
    assert truncated and not terminated and info["episode"]["length_steps"] == 25


def test_episode_reward_terms_sum_to_the_return_with_the_seed_weights():
    env = HumanoidLocomotionEnv(task="walk", target_velocity_mps=0.5, episode_length_s=1.0)
    env.reset(seed=1)
    total, done, info = 0.0, False, {}
    rng = np.random.default_rng(1)
    while not done:
        _, reward, terminated, truncated, info = env.step(rng.normal(0, 0.1, 32).astype(np.float32))
        total += reward
        done = terminated or truncated
    terms = info["episode"]["reward_terms"]
    assert set(terms) == set(WALK_REWARD_WEIGHTS)
    assert sum(terms.values()) == pytest.approx(total)
    assert terms["energy_efficiency"] < 0 and terms["survival"] > 0


def test_instruction_matches_the_numeric_command():
    env = HumanoidLocomotionEnv(task="walk", target_velocity_mps=0.8)
    obs, info = env.reset(seed=0)
    assert decode_instruction(obs["instruction"]) == "walk forward at 0.8 m/s" == info["instruction"]
    np.testing.assert_allclose(obs["command"], [0.8, 0.0, 0.0])
    stand = HumanoidLocomotionEnv(task="stand")
    obs, _ = stand.reset(seed=0)
    assert decode_instruction(obs["instruction"]) == "stand still" and not obs["command"].any()


def test_settings_change_at_the_next_reset_not_mid_episode():
    env = HumanoidLocomotionEnv(task="stand")
    obs, _ = env.reset(seed=0)
    env.apply_settings({"task": "walk", "target_velocity_mps": 0.3})
    obs, *_ = env.step(np.zeros(32, dtype=np.float32))
    assert decode_instruction(obs["instruction"]) == "stand still"
    obs, info = env.reset()
    assert info["instruction"] == "walk forward at 0.3 m/s"


def test_bad_settings_fail_with_the_field_name():
    with pytest.raises(ValueError, match="unknown key 'push_force'"):
        HumanoidLocomotionEnv(push_force=10)
    with pytest.raises(ValueError, match="target_velocity_mps"):
        HumanoidLocomotionEnv(task="walk", target_velocity_mps=-1.0)
    env = HumanoidLocomotionEnv()
    with pytest.raises(ValueError, match="history_length"):
        env.apply_settings({"history_length": 4})
    with pytest.raises(ValueError, match="unknown robot"):
        HumanoidLocomotionEnv(embodiment="nope")


def test_pushes_move_the_robot_and_are_bounded_by_the_configured_force():
    calm = HumanoidLocomotionEnv(task="stand", reset_joint_noise_rad=0.0)
    pushes = {"push_force_n": (0.0, 100.0), "push_interval_s": (0.1, 0.1)}
    pushed = HumanoidLocomotionEnv(task="stand", reset_joint_noise_rad=0.0, randomization=pushes)
    calm.reset(seed=0)
    pushed.reset(seed=0)
    applied = []
    for _ in range(10):
        a, *_ = calm.step(np.zeros(32, dtype=np.float32))
        b, *_ = pushed.step(np.zeros(32, dtype=np.float32))
        applied.append(np.linalg.norm(pushed.vector.robots.datas[0].xfrc_applied[pushed.vector.robots.torso_body_id, :3]))
    assert 0 < max(applied) <= 100.0
    assert np.abs(a["privileged"][:3] - b["privileged"][:3]).max() > 1e-3


def test_vector_env_steps_each_robot_exactly_like_the_single_env():
    actions = np.random.default_rng(2).uniform(-0.3, 0.3, (30, 3, 32)).astype(np.float32)
    vec = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", episode_length_s=0.3)
    vec_obs, _ = vec.reset(seed=10)
    singles = [HumanoidLocomotionEnv(episode_length_s=0.3) for _ in range(3)]
    single_obs = [env.reset(seed=10 + i)[0] for i, env in enumerate(singles)]
    for t in range(30):
        vec_obs, vec_reward, vec_term, vec_trunc, _ = vec.step(actions[t])
        for i, env in enumerate(singles):
            if single_obs[i] is None:  # NEXT_STEP autoreset: the vector env resets this robot now
                single_obs[i], _ = env.reset()
                reward = 0.0
            else:
                single_obs[i], reward, term, trunc, _ = env.step(actions[t, i])
                if term or trunc:
                    assert vec_term[i] == term and vec_trunc[i] == trunc
            np.testing.assert_allclose(vec_obs["joint_pos"][i], single_obs[i]["joint_pos"], atol=1e-6)
            assert vec_reward[i] == pytest.approx(reward)
            if vec_term[i] or vec_trunc[i]:
                single_obs[i] = None


def test_history_and_camera_parts_have_their_declared_shapes():
    env = HumanoidLocomotionEnv(history_length=4, camera="track", camera_size=(32, 48))
    obs, _ = env.reset(seed=0)
    assert obs["proprio_history"].shape == (4, 2 * 32 + 9)
    assert obs["camera_rgb"].shape == (32, 48, 3) and obs["camera_rgb"].dtype == np.uint8
    assert obs["camera_rgb"].std() > 0  # a rendered image, not a blank buffer
    obs, *_ = env.step(np.zeros(32, dtype=np.float32))
    assert env.observation_space.contains(obs)
    env.close()


def test_render_gives_an_rgb_frame():
    env = HumanoidLocomotionEnv(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (480, 640, 3) and frame.std() > 10
    env.close()


def test_vector_env_refuses_a_wrong_number_of_seeds():
    vec = HumanoidLocomotionVecEnv(num_envs=2)
    with pytest.raises(ValueError, match="expected 2"):
        vec.reset(seed=[1, 2, 3])
