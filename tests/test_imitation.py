"""GAIL and AMP on PPO: the discriminator's loss and gradient penalty against references, and one real training
iteration of each on a MuJoCo task with expert demonstrations recorded by the scripted expert."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

import envs
from envs.humanoid.env import HumanoidLocomotionVecEnv
from vla_ray.checkpoints import PolicyCard, save_checkpoint
from vla_ray.datasets.recording import record_expert
from vla_ray.episode_metrics import EpisodeMetricsCallback
from vla_ray.imitation.config import DISCRIMINATOR_ID, ImitationConfig, with_imitation
from vla_ray.imitation.discriminator import EXPERT, MASK, POLICY, Discriminator, gradient_penalty, style_reward
from vla_ray.imitation.learner import PolicyReplay, load_expert_features
from vla_ray.mocap.dataset import read_motion
from vla_ray.mocap.retarget import main as retarget_main
from vla_ray.policy import Policy
from vla_ray.training import PPOTrainingConfig, build_ppo_config

REACH = {"embodiment": "franka_panda", "task": "reach", "episode_length_s": 1.5}
FEATURES = ["joint_pos", "joint_vel", "ee_pos", "goal_pos"]
SMALL = PPOTrainingConfig(num_env_runners=0, num_envs_per_env_runner=4, rollout_fragment_length=32,
                          minibatch_size=64, num_epochs=2, seed=0, model_config={"embodiment": "franka_panda"})


def discriminator(loss: str, input_dim: int = 4, penalty: float = 0.0) -> Discriminator:
    torch.manual_seed(0)
    return Discriminator(observation_space=None, action_space=None, inference_only=False, learner_only=True,
                         model_config={"input_dim": input_dim, "hidden": [32, 32], "loss": loss,
                                       "gradient_penalty": penalty})


@pytest.mark.parametrize("loss", ["bce", "lsgan"])
def test_discriminator_loss_falls_on_separable_data_and_its_reward_ranks_expert_above_policy(loss):
    rng = np.random.default_rng(0)
    expert = torch.from_numpy(rng.normal(2.0, 1.0, (256, 4)).astype(np.float32))
    policy = torch.from_numpy(rng.normal(-2.0, 1.0, (256, 4)).astype(np.float32))
    module = discriminator(loss, penalty=1.0 if loss == "lsgan" else 0.0)
    learner = SimpleNamespace(metrics=MetricsLogger())
    batch = {EXPERT: expert, POLICY: policy, MASK: torch.ones(256, dtype=torch.bool)}
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        loss_value = module.compute_self_supervised_loss(learner=learner, module_id="d", config=None, batch=batch,
                                                         fwd_out=module.forward_train(batch))
        optimizer.zero_grad()
        loss_value.backward()
        optimizer.step()
        losses.append(float(loss_value.detach()))
    assert losses[-1] < 0.25 * losses[0], losses[::20]
    stats = learner.metrics.reduce()["d"]
    assert stats["expert_accuracy"] > 0.97 and stats["policy_accuracy"] > 0.97
    with torch.no_grad():
        assert module.reward(expert).mean() > module.reward(policy).mean() + 0.5


def test_gradient_penalty_matches_an_independent_autograd_reference():
    module = discriminator("lsgan", input_dim=5)
    x = torch.randn(16, 5)
    # Reference: the Jacobian of each sample's score with torch.func, one sample at a time.
    per_sample = torch.func.vmap(torch.func.jacrev(lambda v: module.score(v[None]).squeeze()))(x)
    reference = per_sample.pow(2).sum(dim=-1).mean()
    torch.testing.assert_close(gradient_penalty(module.score, x), reference)
    # And for a linear score the gradient is its weight vector at every sample.
    linear = torch.nn.Linear(5, 1)
    torch.testing.assert_close(gradient_penalty(linear, x), linear.weight.pow(2).sum())


def test_style_rewards_follow_the_papers():
    logits = torch.tensor([-3.0, 0.0, 1.0, 3.0, 5.0])
    torch.testing.assert_close(style_reward(logits, "bce"), -torch.log(1 - torch.sigmoid(logits)))
    torch.testing.assert_close(style_reward(logits, "lsgan"), torch.tensor([0.0, 0.75, 1.0, 0.0, 0.0]))


def test_policy_replay_keeps_the_newest_transitions():
    replay = PolicyReplay(capacity=5, dim=1)
    replay.add(torch.arange(3.0)[:, None])
    replay.add(torch.arange(3.0, 7.0)[:, None])
    assert replay.size == 5 and sorted(replay.buffer[:, 0].tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert set(replay.sample(50, torch.Generator().manual_seed(0))[:, 0].tolist()) <= {2.0, 3.0, 4.0, 5.0, 6.0}


def learner_state(algo, module_id: str) -> dict:
    """A module's weights in the Learner (the discriminator exists only there)."""
    results = algo.learner_group.foreach_learner(
        lambda learner: {k: v.detach().cpu().clone() for k, v in learner.module[module_id].state_dict().items()})
    return next(iter(results)).get()


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    path = tmp_path_factory.mktemp("imitation") / "reach_expert.parquet"
    record_expert(path, envs.MANIPULATION_ID, REACH, episodes=6, num_envs=3, seed=0)
    return path


def test_imitation_config_validates_and_fills_the_methods_defaults(demos):
    amp = ImitationConfig.from_kwargs({"method": "amp", "expert_dataset": str(demos), "features": FEATURES})
    assert (amp.transition, amp.task_weight, amp.style_weight, amp.gradient_penalty) == ("state_next_state", 0.5, 0.5, 10.0)
    features = load_expert_features(amp, envs.MANIPULATION_ID, REACH)
    assert features.shape == (6 * 29, 2 * (7 + 7 + 3 + 3))  # 30-step episodes: 29 (s, s') pairs each
    with pytest.raises(ValueError, match="ImitationConfig.method='bc'"):
        ImitationConfig.from_kwargs({"method": "bc", "expert_dataset": str(demos), "features": FEATURES})
    with pytest.raises(ValueError, match="unknown key 'feature'"):
        ImitationConfig.from_kwargs({"method": "gail", "expert_dataset": str(demos), "feature": FEATURES})
    with pytest.raises(ValueError, match="unknown observation parts"):
        with_imitation(build_ppo_config(SMALL, envs.MANIPULATION_ID, REACH),
                       ImitationConfig.from_kwargs({"method": "gail", "expert_dataset": str(demos),
                                                    "features": ["joint_angles"]}), envs.MANIPULATION_ID, REACH)


@pytest.mark.parametrize("method", ["gail", "amp"])
def test_one_training_iteration_trains_the_discriminator_and_the_policy_on_style_rewards(method, demos, ray_session,
                                                                                        tmp_path):
    imitation = ImitationConfig.from_kwargs({"method": method, "expert_dataset": str(demos), "features": FEATURES})
    config = with_imitation(build_ppo_config(SMALL, envs.MANIPULATION_ID, REACH, EpisodeMetricsCallback),
                            imitation, envs.MANIPULATION_ID, REACH)
    algo = config.build_algo()
    try:
        before = learner_state(algo, DISCRIMINATOR_ID)
        policy_before = learner_state(algo, "default_policy")
        result = algo.train()
        stats = result["learners"][DISCRIMINATOR_ID]
        for key in ("loss", "expert_accuracy", "policy_accuracy", "style_reward_mean", "pose_error_rad"):
            assert np.isfinite(stats[key]), (key, stats)
        assert 0.0 <= stats["expert_accuracy"] <= 1.0 and stats["pose_error_rad"] >= 0.0
        if method == "amp":
            assert stats["gradient_penalty"] >= 0.0
        after = learner_state(algo, DISCRIMINATOR_ID)
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("score"))
        # The expert statistics the inputs are standardized with travel in the module's state.
        expert = load_expert_features(imitation, envs.MANIPULATION_ID, REACH)
        np.testing.assert_allclose(after["feature_mean"].numpy(), expert.mean(axis=0), rtol=1e-5, atol=1e-5)
        assert any(not torch.equal(policy_before[k], v) for k, v in learner_state(algo, "default_policy").items())
        # The checkpoint serves like any other: the policy alone, the discriminator left in the learner.
        card = PolicyCard(envs.MANIPULATION_ID, REACH, dict(SMALL.model_config), "franka_panda", method, 1, 128)
        policy = Policy.from_checkpoint(save_checkpoint(algo, tmp_path, "ckpt", card))
        obs, _ = envs.manipulation.env.ManipulationVecEnv(num_envs=2, **REACH).reset(seed=0)
        assert policy.act(obs).shape == (2, 8)
    finally:
        algo.stop()


WALK_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "motions" / "humanoid3d_walk.txt"
AMP_FEATURES = ["joint_pos", "joint_vel", "imu", "privileged"]
HUMANOID_WALK = {"task": "walk", "target_velocity_mps": 0.5, "episode_length_s": 1.0}


@pytest.fixture(scope="module")
def walk_motion(tmp_path_factory):
    path = tmp_path_factory.mktemp("motions") / "walk.parquet"
    retarget_main(["--clip", str(WALK_CLIP), "--out", str(path)])
    return path


def test_reference_motion_frames_become_observations_and_reset_states(walk_motion):
    motion = read_motion(walk_motion)
    env = HumanoidLocomotionVecEnv(num_envs=4, reference_motion=str(walk_motion), reference_init_fraction=1.0,
                                   reset_joint_noise_rad=0.0)
    frames = env.observe_reference_motion()
    np.testing.assert_allclose(frames["joint_pos"], motion.joint_pos, atol=1e-5)
    np.testing.assert_allclose(frames["joint_vel"], np.clip(motion.joint_vel, -50, 50), atol=1e-4)
    # privileged = heading-frame base velocity and base height: the root's height above the floor
    np.testing.assert_allclose(frames["privileged"][:, 3], motion.root_pos[:, 2], atol=1e-5)
    # Reference-state initialization: every robot starts on some frame of the motion, moving as it moves there.
    obs, _ = env.reset(seed=0)
    for q, v in zip(obs["joint_pos"], obs["joint_vel"]):
        frame = int(np.argmin(np.abs(motion.joint_pos - q).sum(axis=1)))
        np.testing.assert_allclose(q, motion.joint_pos[frame], atol=1e-5)
        np.testing.assert_allclose(v, np.clip(motion.joint_vel[frame], -50, 50), atol=1e-4)
    env.close()


def test_one_amp_iteration_on_the_humanoid_with_the_retargeted_walk_and_reference_state_init(walk_motion,
                                                                                             ray_session):
    env_config = {**HUMANOID_WALK, "reference_motion": str(walk_motion), "reference_init_fraction": 0.5}
    imitation = ImitationConfig.from_kwargs({"method": "amp", "expert_dataset": str(walk_motion),
                                             "features": AMP_FEATURES})
    expert = load_expert_features(imitation, envs.HUMANOID_LOCOMOTION_ID, env_config)
    frames = len(read_motion(walk_motion).joint_pos)
    assert expert.shape == (frames - 1, 2 * (32 + 32 + 9 + 4))
    training = PPOTrainingConfig(num_env_runners=0, num_envs_per_env_runner=4, rollout_fragment_length=32,
                                 minibatch_size=64, num_epochs=1, seed=0, model_config={"embodiment": "humanoid"})
    config = with_imitation(build_ppo_config(training, envs.HUMANOID_LOCOMOTION_ID, env_config),
                            imitation, envs.HUMANOID_LOCOMOTION_ID, env_config)
    algo = config.build_algo()
    try:
        result = algo.train()
        stats = result["learners"][DISCRIMINATOR_ID]
        for key in ("loss", "gradient_penalty", "expert_accuracy", "policy_accuracy", "style_reward_mean",
                    "pose_error_rad"):
            assert np.isfinite(stats[key]), (key, stats)
    finally:
        algo.stop()
