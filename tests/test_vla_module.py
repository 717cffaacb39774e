"""The VLA RLModule: shapes, gradient flow, language conditioning, checkpoint round trip."""

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from envs.humanoid.env import HumanoidLocomotionVecEnv
from vla_ray.language import encode_instruction
from vla_ray.models import VLAPPOModule


def make_module(env, inference_only=False, **model_config):
    return VLAPPOModule(
        observation_space=env.single_observation_space, action_space=env.single_action_space,
        inference_only=inference_only, model_config=model_config,
    )


def batch_of(env, steps=3):
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-0.2, 0.2, (env.num_envs, 32)).astype(np.float32))
    return {Columns.OBS: {k: torch.from_numpy(v) for k, v in obs.items()}}


@pytest.fixture(scope="module")
def env():
    return HumanoidLocomotionVecEnv(num_envs=6, task="walk", target_velocity_mps=0.5)


def test_outputs_have_the_action_and_value_shapes(env):
    module = make_module(env)
    batch = batch_of(env)
    out = module.forward_train(batch)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (6, 64)  # mean and log-std per joint
    assert module.compute_values(batch).shape == (6,)
    assert module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS]).shape == (6,)
    assert module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].shape == (6, 64)


@pytest.mark.parametrize("extra", [{}, {"history_length": 5, "camera": "track", "camera_size": (24, 24)}])
def test_gradients_reach_every_trainable_part(extra):
    env = HumanoidLocomotionVecEnv(num_envs=4, task="walk", target_velocity_mps=0.5, **extra)
    module = make_module(env)
    batch = batch_of(env)
    out = module.forward_train(batch)
    loss = out[Columns.ACTION_DIST_INPUTS].pow(2).sum() + module.compute_values(batch, out[Columns.EMBEDDINGS]).sum()
    loss.backward()
    params = dict(module.named_parameters())
    no_grad = [name for name, p in params.items() if p.grad is None or not torch.any(p.grad != 0)]
    assert no_grad == []
    if extra:
        assert any(n.startswith("actor.history.") for n in params) and any(n.startswith("actor.vision.") for n in params)


def test_changing_only_the_instruction_changes_the_action_distribution(env):
    module = make_module(env)
    batch = batch_of(env)
    obs = dict(batch[Columns.OBS])
    base = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    obs["instruction"] = torch.from_numpy(np.stack([encode_instruction("stand still")] * 6))
    other = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    assert not torch.allclose(base[:, :32], other[:, :32], atol=1e-7)
    obs["instruction"] = batch[Columns.OBS]["instruction"]
    np.testing.assert_allclose(module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS], base)


def test_language_encoder_weights_stay_out_of_the_state_dict(env):
    module = make_module(env)
    assert module._instructions is not None
    assert sum(p.numel() for p in module.parameters()) < 2_000_000  # MiniLM alone has 22M
    assert not any("minilm" in k.lower() or "bert" in k.lower() for k in module.state_dict())


def test_module_restored_from_a_checkpoint_gives_identical_actions(env, tmp_path):
    module = make_module(env)
    batch = batch_of(env)
    module.forward_train(batch)  # move the running normalization away from its initial values
    module.save_to_path(str(tmp_path / "module"))
    restored = RLModule.from_checkpoint(str(tmp_path / "module"))
    assert isinstance(restored, VLAPPOModule)
    torch.testing.assert_close(
        restored.forward_inference(batch)[Columns.ACTION_DIST_INPUTS], module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    )
    torch.testing.assert_close(restored.norms["joint_vel"].mean, module.norms["joint_vel"].mean)


def test_inference_only_copy_has_no_critic_and_loads_the_learner_state(env):
    learner = make_module(env)
    runner = make_module(env, inference_only=True)
    assert not hasattr(runner, "critic") and not runner.training
    runner.set_state(learner.get_state(inference_only=True))
    batch = batch_of(env)
    torch.testing.assert_close(
        runner.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS], learner.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    )


def test_running_normalization_follows_the_training_data(env):
    module = make_module(env)
    batch = batch_of(env)
    before = module.norms["joint_pos"].mean.clone()
    module.forward_train(batch)
    after = module.norms["joint_pos"].mean
    target = batch[Columns.OBS]["joint_pos"].mean(0)
    assert (after - target).abs().max() < (before - target).abs().max()


def test_unknown_model_config_key_is_an_error(env):
    with pytest.raises(ValueError, match="unknown keys \\['hiden'\\]"):
        make_module(env, hiden=[64])


def test_a_new_command_after_a_constant_stage_reaches_the_policy_unscaled():
    stand = HumanoidLocomotionVecEnv(num_envs=4, task="stand")
    module = make_module(stand)
    for _ in range(3):  # statistics from a stage whose command never changes
        module.forward_train(batch_of(stand))
    walk = HumanoidLocomotionVecEnv(num_envs=4, task="walk", target_velocity_mps=0.8)
    obs = batch_of(walk)[Columns.OBS]
    torch.testing.assert_close(module._normalized(obs)["command"], obs["command"])
