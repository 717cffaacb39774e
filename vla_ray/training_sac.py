"""SAC on RLlib's new API stack with the VLA encoders (VLASACModule): one builder from a validated config.

Defaults follow RLlib's MuJoCo SAC example (actor 2e-4, critic 8e-4, alpha 9e-4, twin Q, tau 5e-3,
prioritized replay) with a smaller replay buffer and warm-up for few CPU cores; every EnvRunner
steps its batched robots `rollout_fragment_length` times per sample call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ray.rllib.algorithms.sac import SACConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from vla_ray.models.vla_sac_module import VLASACModule
from vla_ray.training import SamplingConfig, configure_sampling


@dataclass(frozen=True)
class SACTrainingConfig(SamplingConfig):
    rollout_fragment_length: int = 4  # few steps per sample call: SAC updates often, on small batches
    actor_lr: float = 2e-4
    critic_lr: float = 8e-4
    alpha_lr: float = 9e-4
    tau: float = 5e-3
    initial_alpha: float = 1.0
    train_batch_size: int = 256
    replay_capacity: int = 200_000  # transitions
    learning_starts: int = 5_000  # env steps sampled before the first update
    n_step: int = 1
    training_intensity: float | None = None  # replayed / sampled steps; None: RLlib's one update per sample call

    def __post_init__(self):
        super().__post_init__()
        for name in ("actor_lr", "critic_lr", "alpha_lr", "tau", "initial_alpha"):
            if not getattr(self, name) > 0:
                self._fail(name, "> 0")
        for name in ("train_batch_size", "replay_capacity", "n_step"):
            if getattr(self, name) < 1:
                self._fail(name, ">= 1")
        if self.learning_starts < 0:
            self._fail("learning_starts", ">= 0")
        if self.replay_capacity < self.train_batch_size:
            self._fail("replay_capacity", f">= train_batch_size={self.train_batch_size}")
        if self.training_intensity is not None and not self.training_intensity > 0:
            self._fail("training_intensity", "None or > 0")


def build_sac_config(training: SACTrainingConfig, env_id: str, env_config: dict, callbacks=None) -> SACConfig:
    spec = RLModuleSpec(module_class=VLASACModule, model_config=dict(training.model_config))
    config = configure_sampling(SACConfig(), training, env_id, env_config, spec, callbacks)
    return config.training(
        gamma=training.gamma,
        actor_lr=training.actor_lr,
        critic_lr=training.critic_lr,
        alpha_lr=training.alpha_lr,
        tau=training.tau,
        initial_alpha=training.initial_alpha,
        twin_q=True,
        n_step=training.n_step,
        train_batch_size_per_learner=training.train_batch_size,
        num_steps_sampled_before_learning_starts=training.learning_starts,
        training_intensity=training.training_intensity,
        replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": training.replay_capacity,
                              "alpha": 0.6, "beta": 0.4},
    )
