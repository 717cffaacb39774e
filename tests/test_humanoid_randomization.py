"""Domain randomization in the humanoid env: per-robot physics, live ranges, latency, sensor noise and pushes."""

import numpy as np
import pytest

import envs
from envs.humanoid.config import HumanoidEnvConfig
from envs.humanoid.env import HumanoidLocomotionEnv, HumanoidLocomotionVecEnv
from vla_ray.curriculum import HUMANOID_CURRICULUM

ZERO = np.zeros(32, dtype=np.float32)


def robot_masses(env, i):
    robots = env.robots
    return robots.models[i].body_mass[robots.randomizer.scope.bodies]


def test_each_robot_draws_its_own_physics_into_its_own_model():
    env = HumanoidLocomotionVecEnv(num_envs=2, randomization={"mass_scale": (0.8, 1.2)})
    nominal = env.robots.model.body_mass[env.robots.randomizer.scope.bodies].copy()
    env.reset(seed=0)
    first, second = robot_masses(env, 0), robot_masses(env, 1)
    assert not np.allclose(first, second)
    assert 0.8 <= (first / nominal).min() and (first / nominal).max() <= 1.2
    np.testing.assert_array_equal(env.robots.model.body_mass[env.robots.randomizer.scope.bodies], nominal)
    env.reset(seed=[3, 3])  # a robot's draws follow its own seed
    np.testing.assert_array_equal(robot_masses(env, 0), robot_masses(env, 1))


def test_live_randomization_settings_merge_and_reach_the_next_episode_not_the_current_one():
    env = HumanoidLocomotionVecEnv(num_envs=1, randomization={"push_force_n": (0.0, 50.0)})
    env.reset(seed=0)
    nominal = robot_masses(env, 0).copy()
    env.apply_settings({"randomization": {"mass_scale": (1.2, 1.2)}})
    env.apply_settings({"randomization": {"latency_s": (0.01, 0.01)}})
    env.advance(ZERO[None])
    np.testing.assert_array_equal(robot_masses(env, 0), nominal)
    env.reset()
    np.testing.assert_allclose(robot_masses(env, 0), 1.2 * nominal)
    ranges = env._randomization[0]  # each call changed one range; the others were kept
    assert (ranges.push_force_n, ranges.mass_scale, ranges.latency_s) == ((0.0, 50.0), (1.2, 1.2), (0.01, 0.01))


def test_a_robot_whose_physics_is_nominal_steps_the_shared_model_and_a_randomized_one_its_own():
    env = HumanoidLocomotionVecEnv(num_envs=2)
    env.reset(seed=0)
    robots = env.robots
    assert robots.models[0] is robots.models[1] is robots.model  # randomization off: one model in the CPU cache
    env.apply_settings({"randomization": {"motor_strength_scale": (0.8, 1.2)}})
    env.reset(seed=0)
    assert robots.models[0] is not robots.model and robots.models[1] is not robots.models[0]
    env.apply_settings({"randomization": {"motor_strength_scale": (1.0, 1.0)}})
    env.reset(seed=0)
    assert robots.models[0] is robots.model


def test_motor_latency_holds_the_previous_target_for_its_delay():
    prompt = HumanoidLocomotionEnv(reset_joint_noise_rad=0.0)
    late = HumanoidLocomotionEnv(reset_joint_noise_rad=0.0, randomization={"latency_s": (0.02, 0.02)})  # one period
    for env in (prompt, late):
        env.reset(seed=0)
    held = late.vector.robots.datas[0].ctrl.copy()  # the reset pose
    action = np.full(32, 0.3, dtype=np.float32)
    prompt.step(action)
    late.step(action)
    np.testing.assert_array_equal(late.vector.robots.datas[0].ctrl, held)
    sent = prompt.vector.robots.datas[0].ctrl.copy()
    assert not np.allclose(sent, held)
    late.step(ZERO)
    np.testing.assert_array_equal(late.vector.robots.datas[0].ctrl, sent)  # one control step late


def test_sensor_noise_perturbs_the_proprioceptive_parts_only_and_history_keeps_what_was_observed():
    env = HumanoidLocomotionVecEnv(num_envs=1, history_length=2, randomization={"joint_pos_noise_rad": 0.01})
    previous, _ = env.reset(seed=0)
    errors = []
    for _ in range(20):
        obs, *_ = env.advance(ZERO[None])
        readout = env._readout
        errors.append(obs["joint_pos"][0] - readout.joint_pos[0])
        np.testing.assert_allclose(obs["joint_vel"][0], readout.joint_vel[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(obs["proprio_history"][0, -1, :32], previous["joint_pos"][0])
        previous = obs
    assert np.std(errors) == pytest.approx(0.01, rel=0.15)


@pytest.mark.parametrize("stage, pushed", [("stand", False), ("stand_pushed", True)])
def test_the_curriculum_stages_push_only_in_stand_pushed_and_up_to_100_n(stage, pushed):
    settings = next(s.env_settings for s in HUMANOID_CURRICULUM if s.name == stage)
    env = HumanoidLocomotionEnv(task="stand", reset_joint_noise_rad=0.0)
    env.apply_settings(settings)
    env.reset(seed=0)
    robots = env.vector.robots
    forces = []
    for _ in range(200):  # 4 s: the first push starts within push_interval_s = (2, 4) s
        env.step(ZERO)
        forces.append(np.linalg.norm(robots.datas[0].xfrc_applied[robots.torso_body_id]))
    assert (max(forces) > 0) == pushed and max(forces) <= 100.0


def test_checkpoints_saved_with_the_old_push_setting_still_load_with_the_same_meaning():
    # a policy card of runs/humanoid_curriculum, saved before the push settings moved into `randomization`
    card_settings = {"episode_length_s": 20.0, "episode_tag": "stand_pushed", "push_force_max_n": 100.0,
                     "target_velocity_mps": 0.0, "task": "stand"}
    config = HumanoidEnvConfig.from_kwargs(card_settings)
    assert config.randomization_config().push_force_n == (0.0, 100.0)
    assert config.updated({"push_force_max_n": 0.0}).randomization_config().push_force_n == (0.0, 0.0)
    envs.policy_interface(envs.HUMANOID_LOCOMOTION_ID, card_settings)  # what serving and export do


def test_bad_randomization_settings_fail_naming_the_field():
    with pytest.raises(ValueError, match=r"RandomizationConfig\.mass_scale"):
        HumanoidLocomotionEnv(randomization={"mass_scale": (1.2, 0.8)})
    env = HumanoidLocomotionEnv()
    with pytest.raises(ValueError, match="unknown key 'mass'"):
        env.apply_settings({"randomization": {"mass": (0.8, 1.2)}})
