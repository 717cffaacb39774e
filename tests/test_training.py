"""PPO with the VLA module on a local Ray: a real iteration, curriculum promotion on every EnvRunner
(restarted ones included), and checkpoint round trips."""

import functools
import os

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

import envs
from vla_ray.checkpoints import PolicyCard, resolve_checkpoint, restore_checkpoint, save_checkpoint
from vla_ray.curriculum import (
    METRICS_KEY,
    CurriculumCallback,
    CurriculumStage,
    EpisodeWindow,
    curriculum_of,
    judge_stage,
)
from vla_ray.policy import Policy
from vla_ray.training import PPOTrainingConfig, build_ppo_config

SMALL = PPOTrainingConfig(
    num_env_runners=1, num_envs_per_env_runner=4, rollout_fragment_length=32, minibatch_size=64, num_epochs=2, seed=0
)
# Two stages that promote as soon as one episode has been seen, so promotion is reached in one iteration.
QUICK_STAGES = (
    CurriculumStage("stand", {"task": "stand", "target_velocity_mps": 0.0}, min_survival=0.0, min_episodes=1),
    CurriculumStage("walk_0.3", {"task": "walk", "target_velocity_mps": 0.3}, min_survival=0.0, min_episodes=1),
)
SHORT_EPISODES = {"task": "stand", "episode_length_s": 0.3}


def runner_tasks(algo):
    """The tasks every remote EnvRunner's robots run now."""
    return algo.env_runner_group.foreach_env_runner(
        lambda r: sorted({c.task for c in r.env.unwrapped._configs}), local_env_runner=False
    )


@pytest.fixture(scope="module")
def algo(ray_session):
    config = build_ppo_config(SMALL, envs.HUMANOID_LOCOMOTION_ID, SHORT_EPISODES,
                              functools.partial(CurriculumCallback, stages=QUICK_STAGES))
    algorithm = config.build_algo()
    yield algorithm
    algorithm.stop()


def test_a_real_ppo_iteration_updates_the_vla_module(algo):
    before = {k: v.clone() for k, v in algo.get_module().state_dict().items()}
    result = algo.train()
    assert result["num_env_steps_sampled_lifetime"] >= SMALL.train_batch_size
    stats = result["learners"]["default_policy"]
    assert np.isfinite(stats["policy_loss"]) and np.isfinite(stats["vf_loss"])
    after = algo.get_module().state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in ("head.mean.weight", "critic.trunk.0.weight"))
    # The EnvRunner acts with the same VLA module class (inference-only copy).
    names = algo.env_runner_group.foreach_env_runner(lambda r: type(r.module).__name__, local_env_runner=False)
    assert names == ["VLAPPOModule"]
    assert "reward_terms" in result["env_runners"] and "upright_bonus" in result["env_runners"]["reward_terms"]


def test_curriculum_promotes_on_measured_episodes_and_reaches_every_env_runner(algo):
    result = algo.train()
    while not result[METRICS_KEY]["promoted"] and curriculum_of(algo).current_stage(algo) == 0:
        result = algo.train()
    assert curriculum_of(algo).current_stage(algo) == 1
    assert result[METRICS_KEY]["stage"] == "walk_0.3"
    algo.train()  # 0.3 s episodes: every robot has started a new episode since
    assert runner_tasks(algo) == [["walk"]]
    assert algo.config.env_config["task"] == "walk"


def test_restarted_env_runner_comes_back_in_the_current_stage(algo):
    assert curriculum_of(algo).current_stage(algo) == 1
    algo.env_runner_group.foreach_env_runner(lambda r: os._exit(1), local_env_runner=False)
    result = algo.train()  # RLlib restores the dead runner, then samples
    while algo.env_runner_group.num_healthy_remote_workers() < 1:
        result = algo.train()
    algo.train()
    assert result["num_env_steps_sampled_lifetime"] > 0
    assert algo.env_runner_group.foreach_env_runner(lambda r: r.config.env_config["task"], local_env_runner=False) == ["walk"]
    assert runner_tasks(algo) == [["walk"]]


def test_checkpoint_round_trip_restores_weights_stage_and_iteration(algo, ray_session, tmp_path):
    card = PolicyCard(envs.HUMANOID_LOCOMOTION_ID, dict(algo.config.env_config), {}, "humanoid", "walk_0.3", algo.iteration, 0)
    path = save_checkpoint(algo, tmp_path, "ckpt", card)
    assert resolve_checkpoint(tmp_path) == path and not list(tmp_path.glob(".*partial"))

    policy = Policy.from_checkpoint(tmp_path)
    env = envs.humanoid.env.HumanoidLocomotionVecEnv(num_envs=3, task="walk", target_velocity_mps=0.3)
    obs, _ = env.reset(seed=0)
    expected = algo.get_module().forward_inference({Columns.OBS: {k: torch.from_numpy(v) for k, v in obs.items()}})
    mean = expected[Columns.ACTION_DIST_INPUTS][:, :32].clamp(-1, 1).numpy()
    np.testing.assert_allclose(policy.act(obs), mean, atol=1e-6)

    config = build_ppo_config(SMALL, envs.HUMANOID_LOCOMOTION_ID, SHORT_EPISODES,
                              functools.partial(CurriculumCallback, stages=QUICK_STAGES))
    resumed = config.build_algo()
    try:
        restore_checkpoint(resumed, tmp_path)
        assert resumed.iteration == algo.iteration
        assert curriculum_of(resumed).current_stage(resumed) == 1
        resumed.train()  # the stage reached the runners of the resumed algorithm
        assert runner_tasks(resumed) == [["walk"]]
    finally:
        resumed.stop()


def test_judge_stage_needs_enough_episodes_survival_and_tracking():
    stage = CurriculumStage("walk_0.5", {}, min_survival=0.9, max_velocity_error_mps=0.15, min_episodes=10)
    assert judge_stage(stage, {"episodes": 5, "survived": 1.0, "velocity_error_mps": 0.0}) == (False, "5/10 episodes")
    assert not judge_stage(stage, {"episodes": 20, "survived": 0.8, "velocity_error_mps": 0.0})[0]
    assert not judge_stage(stage, {"episodes": 20, "survived": 1.0, "velocity_error_mps": 0.2})[0]
    assert judge_stage(stage, {"episodes": 20, "survived": 0.95, "velocity_error_mps": 0.1}) == (True, "thresholds met")


def test_one_lucky_episode_does_not_promote_a_stage():
    stage = CurriculumStage("stand_pushed", {}, min_survival=0.95, min_episodes=32)
    window = EpisodeWindow()
    window.add(episodes=40, survived=10, velocity_error_sum=4.0)  # earlier iterations: mostly falls
    window.add(episodes=1, survived=1, velocity_error_sum=0.0)  # this iteration: one survivor
    stats = window.stats(stage.min_episodes)
    assert stats["episodes"] == 41 and stats["survived"] == pytest.approx(11 / 41)
    assert not judge_stage(stage, stats)[0]
    window.add(episodes=0, survived=0, velocity_error_sum=0.0)  # iterations without episodes change nothing
    assert window.stats(stage.min_episodes) == stats


def test_bad_training_settings_fail_before_any_actor_starts():
    with pytest.raises(ValueError, match="minibatch_size"):
        PPOTrainingConfig(num_env_runners=1, num_envs_per_env_runner=2, rollout_fragment_length=8, minibatch_size=64)
    with pytest.raises(ValueError, match="unknown key 'tsak'"):
        build_ppo_config(SMALL, envs.HUMANOID_LOCOMOTION_ID, {"tsak": "stand"})


def test_any_gymnasium_task_trains_with_our_ppo_settings_and_its_own_module():
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    mlp = RLModuleSpec(model_config={"fcnet_hiddens": [64, 64]})
    config = build_ppo_config(SMALL, "Hopper-v5", {}, module_spec=mlp)
    assert config.gym_env_vectorize_mode == gym.VectorizeMode.SYNC  # Hopper has no batched entry point
    # RLlib's default MLP module for PPO, with our PPO settings.
    assert config.rl_module_spec.module_class.__name__ == "DefaultPPOTorchRLModule"
    assert config.rl_module_spec.model_config["fcnet_hiddens"] == [64, 64]
    assert config.minibatch_size == SMALL.minibatch_size and config.vf_clip_param == float("inf")
    ours = build_ppo_config(SMALL, envs.HUMANOID_LOCOMOTION_ID, SHORT_EPISODES)
    assert ours.gym_env_vectorize_mode == gym.VectorizeMode.VECTOR_ENTRY_POINT
