"""Running mean/std normalization kept as module buffers, so it travels with weights and checkpoints."""

from __future__ import annotations

import torch
from torch import nn


class RunningNorm(nn.Module):
    """Normalizes features with statistics accumulated over every training batch seen (Chan et al. merge)."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, eps: float = 1e-4):
        super().__init__()
        self.clip = clip
        self.eps = eps
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self.mean) / torch.sqrt(self.var + self.eps), -self.clip, self.clip)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, *self.mean.shape).to(self.mean.dtype)
        n = x.shape[0]
        if n == 0:
            return
        batch_mean = x.mean(0)
        batch_var = x.var(0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * (n / total)
        self.var.copy_((self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total) / total)
        self.count.fill_(total)


def update_norms(norms: nn.ModuleDict, obs: dict[str, torch.Tensor]) -> None:
    """Fold a batch of observation parts into the running statistics of every part that has a norm."""
    for name, norm in norms.items():
        norm.update(obs[name])
