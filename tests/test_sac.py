"""SAC with the VLA encoders: RLlib's SAC Learner trains VLASACModule on a real MuJoCo task, the checkpoint serves
through the same Policy as PPO's, and bad settings fail naming the field."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

import envs
from envs.manipulation.env import ManipulationVecEnv
from vla_ray.checkpoints import PolicyCard, save_checkpoint
from vla_ray.episode_metrics import EpisodeMetricsCallback
from vla_ray.models.vla_sac_module import VLASACModule
from vla_ray.policy import Policy
from vla_ray.training_sac import SACTrainingConfig, build_sac_config

REPO = Path(__file__).resolve().parents[1]
REACH = {"embodiment": "franka_panda", "task": "reach", "episode_length_s": 1.5}
SMALL = SACTrainingConfig(num_env_runners=0, num_envs_per_env_runner=4, rollout_fragment_length=8,
                          train_batch_size=64, replay_capacity=10_000, learning_starts=128, seed=0,
                          model_config={"embodiment": "franka_panda", "hidden": [64, 64], "proprio_dim": 64})


def learner_state(algo) -> dict:
    results = algo.learner_group.foreach_learner(
        lambda learner: {k: v.detach().cpu().clone() for k, v in learner.module["default_policy"].state_dict().items()})
    return next(iter(results)).get()


def test_sac_trains_the_vla_module_and_its_checkpoint_serves(ray_session, tmp_path):
    algo = build_sac_config(SMALL, envs.MANIPULATION_ID, REACH, EpisodeMetricsCallback).build_algo()
    try:
        before = learner_state(algo)
        stats = {}
        for _ in range(40):  # until past learning_starts and a few updates
            result = algo.train()
            stats = result.get("learners", {}).get("default_policy", {})
            if "qf_loss" in stats and result["num_env_steps_sampled_lifetime"] > 2 * SMALL.learning_starts:
                break
        for key in ("qf_loss", "policy_loss", "alpha_loss", "alpha_value"):
            assert np.isfinite(stats[key]), (key, stats)
        after = learner_state(algo)
        for prefix in ("pi_encoder.", "pi.", "qf_encoder.", "qf_twin.", "target_qf."):
            assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)), prefix
        # Targets trail their networks (Polyak averaging), they are not copies of them.
        assert any(not torch.equal(after[k], after["target_" + k]) for k in after if k.startswith("qf."))
        card = PolicyCard(envs.MANIPULATION_ID, REACH, dict(SMALL.model_config), "franka_panda", "sac", 1, 1)
        policy = Policy.from_checkpoint(save_checkpoint(algo, tmp_path, "ckpt", card))
    finally:
        algo.stop()
    assert isinstance(policy.module, VLASACModule)
    env = ManipulationVecEnv(num_envs=3, **REACH)
    obs, _ = env.reset(seed=0)
    action = policy.act(obs)
    # Deterministic SAC action: the squashed Gaussian's mean, tanh(mu), within the action space.
    with torch.no_grad():
        inputs = policy.module.forward_inference({Columns.OBS: {k: torch.from_numpy(v) for k, v in obs.items()}})
    mean = inputs[Columns.ACTION_DIST_INPUTS][:, :8]
    # (RLlib's squash keeps samples a hair inside the bounds, so the match is to 1e-3, not bit for bit.)
    np.testing.assert_allclose(action, torch.tanh(mean).numpy(), atol=1e-3)
    assert np.all(np.abs(policy.act(obs, deterministic=False)) <= 1.0)
    env.close()


def test_bad_sac_settings_fail_naming_the_field():
    with pytest.raises(ValueError, match="SACTrainingConfig.replay_capacity=10"):
        SACTrainingConfig(replay_capacity=10, train_batch_size=256)
    with pytest.raises(ValueError, match="SACTrainingConfig.actor_lr=0"):
        SACTrainingConfig(actor_lr=0)
    with pytest.raises(ValueError, match="SACTrainingConfig.num_env_runners=-1"):
        SACTrainingConfig(num_env_runners=-1)


def test_train_script_runs_sac_end_to_end(tmp_path):
    done = subprocess.run(
        [sys.executable, "experiments/train.py", "--algorithm", "sac", "--env", envs.MANIPULATION_ID,
         "--env-config", json.dumps(REACH), "--env-runners", "0", "--envs-per-runner", "4", "--env-steps", "400",
         "--eval-episodes", "1", "--run-dir", str(tmp_path / "run"), "--mlflow-uri", f"sqlite:///{tmp_path / 'm.db'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "final checkpoint" in done.stdout and '"episodes": 1' in done.stdout
    assert isinstance(Policy.from_checkpoint(tmp_path / "run").module, VLASACModule)
