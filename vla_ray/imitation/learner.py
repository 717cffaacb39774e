"""PPO's Learner with a discriminator: expert transitions loaded once, a connector piece that turns each train
batch's transitions into style rewards before GAE, and the discriminator trained on the same batches.

The connector runs once per update on the whole batch (after tensors are made, before advantages),
the discriminator's loss per minibatch and epoch, alongside PPO's.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.common.add_observations_from_episodes_to_batch import AddObservationsFromEpisodesToBatch
from ray.rllib.connectors.common.numpy_to_tensor import NumpyToTensor
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.learner.add_next_observations_from_episodes_to_train_batch import (
    AddNextObservationsFromEpisodesToTrainBatch,
)
from ray.rllib.core import DEFAULT_MODULE_ID, Columns

from vla_ray.datasets import read_dataset
from vla_ray.mocap.dataset import is_motion_dataset
from vla_ray.imitation.config import DISCRIMINATOR_ID, ImitationConfig
from vla_ray.imitation.discriminator import EXPERT, MASK, POLICY
from vla_ray.imitation.features import episode_features, torch_features

LEARNER_CONFIG_KEY = "imitation"


def load_expert_features(config: ImitationConfig, env_id: str, env_config: dict) -> np.ndarray:
    """(N, F) expert transitions: from an episode dataset recorded in `env_id`, or (AMP) from a retargeted motion,
    posed frame by frame in the environment so that its observations come from the training code itself."""
    if is_motion_dataset(config.expert_dataset):
        if config.transition != "state_next_state":
            raise ValueError(f"ImitationConfig.expert_dataset={config.expert_dataset!r} is a motion (no actions): "
                             "expected transition='state_next_state'")
        settings = {**env_config, "reference_motion": config.expert_dataset, "reference_init_fraction": 0.0}
        env = gym.make_vec(f"envs:{env_id}", num_envs=1, vectorization_mode="vector_entry_point", **settings).unwrapped
        try:
            observations = env.observe_reference_motion()
        finally:
            env.close()
        return episode_features(config, observations, None)
    dataset = read_dataset(config.expert_dataset)
    if dataset.info.env_id != env_id:
        raise ValueError(f"expert dataset {config.expert_dataset} was recorded in {dataset.info.env_id!r}: "
                         f"expected {env_id!r}")
    features = [episode_features(config, e.observations, e.actions) for e in dataset.episodes if e.length > 1]
    if not features:
        raise ValueError(f"expert dataset {config.expert_dataset}: no episode with two or more steps")
    return np.concatenate(features)


class PolicyReplay:
    """A ring buffer of past policy features (AMP): the discriminator also sees older policies, which keeps it
    from overfitting to the current one."""

    def __init__(self, capacity: int, dim: int):
        self.buffer = torch.zeros(capacity, dim)
        self.size = self.next = 0

    def add(self, features: torch.Tensor) -> None:
        features = features.detach().cpu()[-len(self.buffer):]
        index = (self.next + torch.arange(len(features))) % len(self.buffer)
        self.buffer[index] = features
        self.next = int((self.next + len(features)) % len(self.buffer))
        self.size = min(self.size + len(features), len(self.buffer))

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.buffer[torch.randint(0, self.size, (n,), generator=generator)]


class StyleRewardConnector(ConnectorV2):
    """Adds the discriminator's style reward to the policy batch's rewards and builds the discriminator's batch:
    the policy's transitions (half replayed, with a replay) next to as many expert transitions drawn at random."""

    def __init__(self, input_observation_space=None, input_action_space=None, *, config: ImitationConfig,
                 expert: torch.Tensor, control_dt_s: float, pose_slice: tuple[int, int] | None = None,
                 seed: int | None = None, **kwargs):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.config = config
        self.expert = expert
        self.control_dt_s = control_dt_s
        self.pose_slice = pose_slice
        self.replay = PolicyReplay(config.replay_size, expert.shape[1]) if config.replay_size else None
        self.generator = torch.Generator().manual_seed(seed or 0)

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, metrics=None, **kwargs):
        policy_batch = batch[DEFAULT_MODULE_ID]
        features = torch_features(self.config, policy_batch[Columns.OBS], policy_batch.get(Columns.NEXT_OBS),
                                  policy_batch.get(Columns.ACTIONS))
        rewards = policy_batch[Columns.REWARDS]
        # PPO's appended bootstrap step of each episode chunk is masked out of every loss: no style reward there.
        mask = policy_batch.get(Columns.LOSS_MASK, torch.ones_like(rewards, dtype=torch.bool))
        discriminator = rl_module[DISCRIMINATOR_ID]
        with torch.no_grad():
            style = discriminator.reward(features.to(rewards.device)) * mask
        # Weights are per second of simulated time, like every reward term of our environments.
        policy_batch[Columns.REWARDS] = (self.config.task_weight * rewards
                                         + self.config.style_weight * self.control_dt_s * style)
        shown = features
        if self.replay is not None:
            if self.replay.size:
                half = len(features) // 2
                shown = torch.cat([features[:half], self.replay.sample(len(features) - half, self.generator)
                                   .to(features.device)])
            self.replay.add(features[mask.bool()])
        expert = self.expert[torch.randint(0, len(self.expert), (len(features),), generator=self.generator)]
        batch[DISCRIMINATOR_ID] = {POLICY: shown, EXPERT: expert.to(features.device), MASK: mask}
        if self.pose_slice is not None and metrics is not None:
            metrics.log_value((DISCRIMINATOR_ID, "pose_error_rad"), self.pose_error(features[mask.bool()]), window=1)
        return batch

    def pose_error(self, features: torch.Tensor, samples: int = 1024) -> float:
        """Mean RMS joint-angle error (rad) from policy poses to their nearest expert pose: a convergence measure
        that, unlike the discriminator's scores, does not move with the discriminator."""
        start, stop = self.pose_slice
        pick = lambda x: x[torch.randperm(len(x), generator=self.generator)[:samples], start:stop]  # noqa: E731
        with torch.no_grad():
            distance = torch.cdist(pick(features).float(), pick(self.expert).to(features.device).float())
        return float(distance.min(dim=1).values.mean()) / (stop - start) ** 0.5


class ImitationPPOTorchLearner(PPOTorchLearner):
    def build(self) -> None:
        super().build()
        settings = self.config.learner_config_dict[LEARNER_CONFIG_KEY]
        config = ImitationConfig.from_kwargs(settings["config"])
        expert = torch.from_numpy(load_expert_features(config, settings["env_id"], settings["env_config"]))
        discriminator = self.module[DISCRIMINATOR_ID].unwrapped()
        discriminator.set_normalization(expert.mean(dim=0), expert.std(dim=0))
        if config.transition == "state_next_state":
            self._learner_connector.insert_after(AddObservationsFromEpisodesToBatch,
                                                 AddNextObservationsFromEpisodesToTrainBatch())
        self._learner_connector.insert_after(NumpyToTensor, StyleRewardConnector(
            config=config, expert=expert.to(self._device), control_dt_s=settings["control_dt_s"],
            pose_slice=settings["pose_slice"], seed=self.config.seed))
