"""PPO on RLlib's new API stack with the VLA module: one builder from a validated config.

Defaults are chosen for MuJoCo locomotion on few CPU cores (rsl_rl / legged_gym habits):
GAE lambda 0.95, clip 0.2, 5 epochs, large minibatches, global-norm gradient clipping,
no value clipping (RLlib's default vf_clip_param=10 clamps the squared error, which
zeroes the value gradient at locomotion return scales; rllib_tech.md section 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

import envs
from vla_ray.models import VLAPPOModule


@dataclass(frozen=True)
class SamplingConfig:
    """What every algorithm shares: how the environments are sampled, placed and seeded."""

    num_env_runners: int = 2  # 0: sample in the driver process (tests)
    num_envs_per_env_runner: int = 32
    rollout_fragment_length: int = 64  # steps per environment per sample call
    gamma: float = 0.99
    seed: int | None = None
    model_config: dict = field(default_factory=dict)
    # Placement on a cluster: Learner actors (0: learn in the driver) with their GPUs, and custom resources
    # each EnvRunner asks for, so EnvRunners land on the CPU worker group (cluster.yaml's "env_runner_slot").
    num_learners: int = 0
    num_gpus_per_learner: float = 0.0
    env_runner_resources: dict = field(default_factory=dict)

    def _fail(self, name: str, expected: str):
        raise ValueError(f"{type(self).__name__}.{name}={getattr(self, name)!r}: expected {expected}")

    def __post_init__(self):
        if self.num_env_runners < 0:
            self._fail("num_env_runners", ">= 0")
        if self.num_learners < 0:
            self._fail("num_learners", ">= 0")
        if self.num_gpus_per_learner < 0:
            self._fail("num_gpus_per_learner", ">= 0")
        if not all(isinstance(k, str) and isinstance(v, (int, float)) and v > 0 for k, v in self.env_runner_resources.items()):
            self._fail("env_runner_resources", "a mapping of resource name to a positive amount")
        for name in ("num_envs_per_env_runner", "rollout_fragment_length"):
            if getattr(self, name) < 1:
                self._fail(name, ">= 1")
        if not 0 < self.gamma <= 1:
            self._fail("gamma", "within (0, 1]")


@dataclass(frozen=True)
class PPOTrainingConfig(SamplingConfig):
    lr: float = 3e-4
    gae_lambda: float = 0.95
    clip_param: float = 0.2
    num_epochs: int = 5
    minibatch_size: int = 1024
    entropy_coeff: float = 0.0
    vf_loss_coeff: float = 1.0
    grad_clip: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        for name in ("num_epochs", "minibatch_size"):
            if getattr(self, name) < 1:
                self._fail(name, ">= 1")
        for name in ("lr", "grad_clip", "clip_param"):
            if getattr(self, name) <= 0:
                self._fail(name, "> 0")
        if not 0 < self.gae_lambda <= 1:
            self._fail("gae_lambda", "within (0, 1]")
        if self.minibatch_size > self.train_batch_size_per_learner:
            self._fail("minibatch_size", f"<= each Learner's share of the train batch ({self.train_batch_size_per_learner} steps)")

    @property
    def train_batch_size(self) -> int:
        return max(self.num_env_runners, 1) * self.num_envs_per_env_runner * self.rollout_fragment_length

    @property
    def train_batch_size_per_learner(self) -> int:
        # Learners split each iteration's samples (data parallel), so the total per iteration stays the same.
        return self.train_batch_size // max(self.num_learners, 1)


def configure_sampling(config, training: SamplingConfig, env_id: str, env_config: dict, module_spec: RLModuleSpec,
                       callbacks=None):
    """`config` (any RLlib AlgorithmConfig) set up for a registered vla-ray environment id ("envs:<id>" imports the
    registry), or any gymnasium id: environments, EnvRunners, Learner placement, module, fault tolerance, seed."""
    # "envs:<id>" makes every EnvRunner process import (and so register) our environments before making one.
    env_spec = f"envs:{env_id}" if env_id in envs.ENVIRONMENTS else env_id
    # Build one environment here so a bad id or setting fails before any Ray actor starts.
    gym.make(env_spec, **env_config).close()
    # Our environments batch their robots natively (one process, numpy over the batch); others step one by one.
    native = gym.spec(env_spec.split(":")[-1]).vector_entry_point is not None
    config = (
        config
        .environment(env=env_spec, env_config=dict(env_config))
        .env_runners(
            num_env_runners=training.num_env_runners,
            num_envs_per_env_runner=training.num_envs_per_env_runner,
            rollout_fragment_length=training.rollout_fragment_length,
            gym_env_vectorize_mode=gym.VectorizeMode.VECTOR_ENTRY_POINT if native else gym.VectorizeMode.SYNC,
            num_cpus_per_env_runner=1,
            custom_resources_per_env_runner=dict(training.env_runner_resources),
            batch_mode="truncate_episodes",
        )
        # The action space is already [-1, 1] and the environment clips; skipping RLlib's per-robot
        # unsquash/clip pass saves sampler time without changing a single action.
        .environment(normalize_actions=False, clip_actions=False)
        .learners(num_learners=training.num_learners, num_gpus_per_learner=training.num_gpus_per_learner)
        .rl_module(rl_module_spec=module_spec)
        .fault_tolerance(restart_failed_env_runners=True, delay_between_env_runner_restarts_s=1.0)
        .debugging(seed=training.seed)
    )
    return config.callbacks(callbacks) if callbacks is not None else config


def build_ppo_config(
    training: PPOTrainingConfig, env_id: str, env_config: dict, callbacks=None, module_spec: RLModuleSpec | None = None,
) -> PPOConfig:
    """An RLlib PPOConfig with the VLA module, or with a `module_spec` of its own (benchmarks against other
    libraries train Hopper-v5)."""
    spec = module_spec or RLModuleSpec(module_class=VLAPPOModule, model_config=dict(training.model_config))
    return configure_sampling(PPOConfig(), training, env_id, env_config, spec, callbacks).training(
        lr=training.lr,
        gamma=training.gamma,
        lambda_=training.gae_lambda,
        clip_param=training.clip_param,
        num_epochs=training.num_epochs,
        minibatch_size=training.minibatch_size,
        train_batch_size_per_learner=training.train_batch_size_per_learner,
        entropy_coeff=training.entropy_coeff,
        vf_loss_coeff=training.vf_loss_coeff,
        vf_clip_param=float("inf"),
        use_kl_loss=False,
        grad_clip=training.grad_clip,
        grad_clip_by="global_norm",
    )
