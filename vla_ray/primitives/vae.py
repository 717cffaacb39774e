"""A motion VAE over chunks of joint targets, as offsets from the pose each chunk starts from.

A latent describes the motion (how the joints move over the chunk), not where the body is: that is
what makes latents of one kind of motion cluster together, and what lets a primitive be replayed from
any pose. Neither side reads the absolute pose: conditioned on it, the decoder memorised the few
hundred training poses (held-out round-trip error 2.4x that of holding the pose) instead of
learning motion. Offsets are standardized per channel (the scale is a decoder buffer, saved with it):
raw offsets over 0.1 s are ~0.05 action units, so unscaled the KL term outweighed the reconstruction
and every chunk decoded to a blur.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vla_ray.models.encoders import mlp


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = 16
    hidden: int = 256
    kl_weight: float = 1e-3  # the humanoid guide's weight on the KL term
    lr: float = 1e-3
    batch_size: int = 256
    steps: int = 3000
    seed: int = 0

    def __post_init__(self):
        for name in ("latent_dim", "hidden", "batch_size", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"VAEConfig.{name}={getattr(self, name)!r}: expected >= 1")
        for name in ("kl_weight", "lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"VAEConfig.{name}={getattr(self, name)!r}: expected > 0")


class MotionDecoder(nn.Module):
    """(latent, start pose) -> chunk (B, horizon * J) in action units: the pose plus the latent's offsets."""

    def __init__(self, num_joints: int, horizon: int, latent_dim: int, hidden: int):
        super().__init__()
        self.num_joints, self.horizon = num_joints, horizon
        self.net = mlp([latent_dim, hidden, hidden, horizon * num_joints], "elu", last_activation=False)
        self.register_buffer("offset_scale", torch.ones(horizon * num_joints))

    def forward(self, latent: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        return self.net(latent) * self.offset_scale + pose.repeat(1, self.horizon)

    def standardized_offsets(self, pose: torch.Tensor, chunk: torch.Tensor) -> torch.Tensor:
        return (chunk.flatten(1) - pose.repeat(1, self.horizon)) / self.offset_scale


class MotionVAE(nn.Module):
    def __init__(self, num_joints: int, horizon: int, config: VAEConfig):
        super().__init__()
        self.encoder = mlp([horizon * num_joints, config.hidden, config.hidden], "elu")
        self.mean = nn.Linear(config.hidden, config.latent_dim)
        self.log_var = nn.Linear(config.hidden, config.latent_dim)
        self.decoder = MotionDecoder(num_joints, horizon, config.latent_dim, config.hidden)

    def encode(self, pose: torch.Tensor, chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(self.decoder.standardized_offsets(pose, chunk))
        return self.mean(h), self.log_var(h)

    def forward(self, pose, chunk):
        mean, log_var = self.encode(pose, chunk)
        latent = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return self.decoder(latent, pose), mean, log_var


def train_motion_vae(poses: np.ndarray, chunks: np.ndarray, config: VAEConfig) -> tuple[MotionVAE, list[dict]]:
    """Train on (N, J) poses and (N, horizon, J) chunks; returns the VAE and the losses (standardized units)
    every 500 steps."""
    # Layers this small run fastest on one thread; two spin against each other on a busy 2-core machine (500
    # steps: 4.5 s on one thread, 28 s on two while a training run sampled beside it).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(poses, chunks, config)
    finally:
        torch.set_num_threads(threads)


def _train(poses: np.ndarray, chunks: np.ndarray, config: VAEConfig) -> tuple[MotionVAE, list[dict]]:
    torch.manual_seed(config.seed)
    pose = torch.as_tensor(poses, dtype=torch.float32)
    chunk = torch.as_tensor(chunks, dtype=torch.float32)
    vae = MotionVAE(pose.shape[1], chunk.shape[1], config)
    offsets = chunk.flatten(1) - pose.repeat(1, chunk.shape[1])
    # The floor keeps joints that never move in the data from dividing by ~0.
    vae.decoder.offset_scale.copy_(offsets.std(0).clamp_min(1e-3))
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    for step in range(1, config.steps + 1):
        index = torch.randint(len(pose), (min(config.batch_size, len(pose)),), generator=generator)
        reconstruction, mean, log_var = vae(pose[index], chunk[index])
        reconstruction_loss = ((reconstruction - chunk[index].flatten(1)) / vae.decoder.offset_scale).pow(2).mean()
        kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(-1).mean()
        loss = reconstruction_loss + config.kl_weight * kl
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0 or step == config.steps:
            history.append({"step": step, "reconstruction_mse": reconstruction_loss.item(), "kl": kl.item()})
    return vae.eval(), history
