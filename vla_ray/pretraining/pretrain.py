"""Pretrain a VLA module's actor encoders on a recorded episode dataset, and load them into a new module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from vla_ray.datasets.reader import EpisodeDataset
from vla_ray.models.normalization import update_norms
from vla_ray.models.vla_module import VISION_DIM, VLAPPOModule, normalized_parts
from vla_ray.pretraining.objectives import (
    PREDICTED_PARTS, ContrastiveProjections, NextStatePredictor, proprio_target,
)

ENCODER_FORMAT = 1


@dataclass(frozen=True)
class PretrainingConfig:
    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    contrastive_weight: float = 1.0  # used when the episodes carry camera images and the module reads them
    temperature: float = 0.1
    holdout_fraction: float = 0.1  # last episodes, kept out of training for the report
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"PretrainingConfig.{name}={getattr(self, name)!r}: expected >= 1")
        for name in ("lr", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"PretrainingConfig.{name}={getattr(self, name)!r}: expected > 0")
        if self.contrastive_weight < 0:
            raise ValueError(f"PretrainingConfig.contrastive_weight={self.contrastive_weight!r}: expected >= 0")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(f"PretrainingConfig.holdout_fraction={self.holdout_fraction!r}: expected within (0, 1)")


@dataclass(frozen=True)
class Transitions:
    obs: dict[str, torch.Tensor]
    actions: torch.Tensor
    next_obs: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.actions)

    def rows(self, index: torch.Tensor) -> "Transitions":
        return Transitions({k: v[index] for k, v in self.obs.items()}, self.actions[index],
                           {k: v[index] for k, v in self.next_obs.items()})


def transitions(episodes) -> Transitions:
    """Every (observation, action, next observation) inside the episodes (an episode's last frame has no next)."""
    obs = {k: np.concatenate([e.observations[k][:-1] for e in episodes]) for k in episodes[0].observations}
    nxt = {k: np.concatenate([e.observations[k][1:] for e in episodes]) for k in PREDICTED_PARTS}
    actions = np.concatenate([e.actions[:-1] for e in episodes])
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in obs.items()}
    return Transitions(tensors, torch.from_numpy(actions).float(), {k: torch.from_numpy(v) for k, v in nxt.items()})


def module_for(dataset: EpisodeDataset, model_config: dict) -> VLAPPOModule:
    """A fresh VLA module for the dataset's environment, robot and observation parts."""
    info = dataset.info
    interface = envs.policy_interface(info.env_id, info.env_config)
    return VLAPPOModule(
        observation_space=interface.observation_spec.space(),
        action_space=gym.spaces.Box(-1.0, 1.0, (info.action_dim,), np.float32),
        inference_only=False, model_config={"embodiment": info.embodiment, **model_config},
    )


class Pretrainer:
    def __init__(self, module: VLAPPOModule, train: Transitions, config: PretrainingConfig):
        self.module, self.config = module, config
        actor = module.actor
        update_norms(module.norms, train.obs)  # the encoders learn on the inputs PPO will give them
        self.target_scale = proprio_target(train.obs, train.next_obs).std(0).clamp_min(1e-6)
        self.predictor = NextStatePredictor(actor.output_dim, train.actions.shape[1], len(self.target_scale))
        self.contrast = None
        if actor.vision is not None and config.contrastive_weight > 0:
            self.contrast = ContrastiveProjections(VISION_DIM, actor.proprio_dim, config.temperature)
        parts = [actor, self.predictor] + ([self.contrast] if self.contrast else [])
        self.optimizer = torch.optim.Adam([p for part in parts for p in part.parameters()], lr=config.lr)

    def losses(self, batch: Transitions) -> dict[str, torch.Tensor]:
        module = self.module
        obs = normalized_parts(module.norms, batch.obs)
        features = module.actor(obs, module._instruction_embedding(batch.obs))
        predicted = self.predictor(features, batch.actions)
        target = proprio_target(batch.obs, batch.next_obs) / self.target_scale
        out = {"next_state_mse": (predicted - target).pow(2).mean(),
               "no_change_mse": target.pow(2).mean()}
        if self.contrast is not None:
            out["contrastive"], out["contrastive_accuracy"] = self.contrast.loss(
                module.actor.vision(obs["camera_rgb"]), module.actor.encode_proprio(obs))
        return out

    def fit(self, train: Transitions) -> list[dict]:
        generator = torch.Generator().manual_seed(self.config.seed)
        history = []
        for step in range(1, self.config.steps + 1):
            index = torch.randint(len(train), (min(self.config.batch_size, len(train)),), generator=generator)
            losses = self.losses(train.rows(index))
            loss = losses["next_state_mse"] + self.config.contrastive_weight * losses.get("contrastive", 0.0)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if step == 1 or step % 500 == 0 or step == self.config.steps:
                history.append({"step": step, **{k: round(v.item(), 5) for k, v in losses.items()}})
        return history

    @torch.no_grad()
    def evaluate(self, held_out: Transitions) -> dict:
        return {k: round(v.item(), 5) for k, v in self.losses(held_out.rows(torch.arange(min(len(held_out), 4096)))).items()}


def pretrain(dataset: EpisodeDataset, model_config: dict, config: PretrainingConfig) -> tuple[VLAPPOModule, dict]:
    """The module with pretrained actor encoders (and normalization fitted to the data), and a report: losses
    while training and on the held-out episodes."""
    torch.manual_seed(config.seed)
    episodes = dataset.episodes
    cut = max(1, int(round(len(episodes) * (1 - config.holdout_fraction))))
    if cut >= len(episodes):
        raise ValueError(f"{len(episodes)} episodes: expected at least 2, so that one can be held out")
    train, held_out = transitions(episodes[:cut]), transitions(episodes[cut:])
    module = module_for(dataset, model_config)
    trainer = Pretrainer(module, train, config)
    history = trainer.fit(train)
    return module, {"transitions": len(train), "held_out_transitions": len(held_out), "training": history,
                    "held_out": trainer.evaluate(held_out)}


def save_encoder(module: VLAPPOModule, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": ENCODER_FORMAT, "embodiment": module.model_config.get("embodiment"),
                "actor": module.actor.state_dict(), "norms": module.norms.state_dict()}, path)
    return path


def load_encoder(encoder: nn.Module, norms: nn.ModuleDict, path: str | Path) -> None:
    """Put pretrained actor encoders and their normalization into a module's actor `encoder` (an
    ObservationEncoder: PPO's actor, SAC's policy tower) and `norms`; the parts and sizes must match."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no pretrained encoder (python -m vla_ray.pretraining writes one)")
    data = torch.load(path, weights_only=True)
    if data.get("format") != ENCODER_FORMAT:
        raise ValueError(f"{path}: encoder format {data.get('format')!r}, expected {ENCODER_FORMAT}")
    try:
        encoder.load_state_dict(data["actor"])
        norms.load_state_dict(data["norms"])
    except RuntimeError as error:
        raise ValueError(f"{path}: pretrained for other observation parts or sizes than this module's ({error})") from None
