"""One Tune trial: train a policy in one World, report per-iteration metrics, checkpoint every N iterations.

A function trainable rather than RLlib's Algorithm-as-Trainable, so every trial's checkpoint
is a vla-ray checkpoint (policy card included) that evaluation, serving and export read as it
is, and so a retried trial (FailureConfig) or a restored sweep (Tuner.restore) continues from
that checkpoint: weights, optimizer, iteration.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ray import tune

import envs
from vla_ray.checkpoints import PolicyCard, restore_checkpoint, save_checkpoint
from vla_ray.episode_metrics import EPISODE_KEY, EpisodeMetricsCallback
from vla_ray.sweep.worlds import World
from vla_ray.algorithms import ALGORITHMS

# Reported by every trial; the sweep's --metric is one of these.
TRIAL_METRICS = ("episode_return_mean", "success", "env_steps")


@dataclass(frozen=True)
class TrialSetup:
    """Everything but the World, the same for all trials of a sweep."""

    env_id: str
    base_env_config: dict
    algorithm: str = "ppo"
    training: dict = field(default_factory=dict)  # the algorithm's training-config fields
    iterations: int = 10
    checkpoint_every: int = 5

    def __post_init__(self):
        if self.env_id not in envs.ENVIRONMENTS:
            raise ValueError(f"TrialSetup.env_id={self.env_id!r}: expected one of {sorted(envs.ENVIRONMENTS)}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"TrialSetup.algorithm={self.algorithm!r}: expected one of {sorted(ALGORITHMS)}")
        if self.iterations < 1 or self.checkpoint_every < 1:
            raise ValueError(f"TrialSetup: iterations={self.iterations}, checkpoint_every={self.checkpoint_every}:"
                             " expected both >= 1")
        self.training_config()  # validates

    def training_config(self):
        return ALGORITHMS[self.algorithm][0](**self.training)

    def embodiment(self) -> str:
        return envs.policy_interface(self.env_id, self.base_env_config).embodiment.robot_name


def trial_metrics(result: dict, env_steps: int) -> dict:
    runners = result.get("env_runners", {})
    episode = runners.get(EPISODE_KEY, {})
    metrics = {"episode_return_mean": runners.get("episode_return_mean", float("nan")),
               "success": episode.get("success", float("nan")), "env_steps": env_steps}
    # The task's own error measures and the reward terms, for the dashboards.
    metrics.update({f"episode/{k}": v for k, v in episode.items() if k != "success" and isinstance(v, float)})
    metrics.update({f"reward_terms/{k}": v for k, v in runners.get("reward_terms", {}).items()})
    return metrics


def train_trial(config: dict) -> None:
    """Tune's entry point: config = {"setup": TrialSetup fields, "world": World fields}."""
    setup = TrialSetup(**config["setup"])
    world = World.from_dict(config["world"])
    training = setup.training_config()
    env_config = world.env_settings(setup.base_env_config)
    embodiment = setup.embodiment()
    algo = ALGORITHMS[setup.algorithm][1](training, setup.env_id, env_config, EpisodeMetricsCallback).build_algo()
    previous = tune.get_checkpoint()  # set when FailureConfig retries this trial or Tuner.restore resumes it
    if previous is not None:
        with previous.as_directory() as path:
            restore_checkpoint(algo, path)
    try:
        while algo.iteration < setup.iterations:
            result = algo.train()
            steps = int(result.get("num_env_steps_sampled_lifetime", 0))
            metrics = trial_metrics(result, steps)
            if algo.iteration % setup.checkpoint_every and algo.iteration < setup.iterations:
                tune.report(metrics)
                continue
            card = PolicyCard(env_id=setup.env_id, env_config=dict(algo.config.env_config),
                              model_config=dict(training.model_config), embodiment=embodiment, stage=world.name,
                              training_iteration=algo.iteration, env_steps=steps)
            with tempfile.TemporaryDirectory() as scratch:
                saved = save_checkpoint(algo, Path(scratch), "checkpoint", card)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(saved)))
    finally:
        algo.stop()
