"""The two pretraining objectives on the actor tower of a VLAPPOModule.

Next-state prediction: from the tower's features and the action taken, predict the change of the
proprioceptive parts (joint positions and velocities) over the control step, standardized per
channel; predicting "no change" scores 1.0 on that scale, a perfect model 0.
Vision-proprioception contrast: the vision and proprioception encoders' embeddings, projected, pick
each other out of the batch (InfoNCE both ways, the other rows as negatives).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla_ray.models.encoders import mlp

PREDICTED_PARTS = ("joint_pos", "joint_vel")
PROJECTION_DIM = 64


class NextStatePredictor(nn.Module):
    def __init__(self, feature_dim: int, action_dim: int, target_dim: int):
        super().__init__()
        self.net = mlp([feature_dim + action_dim, 256, target_dim], "elu", last_activation=False)

    def forward(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([features, actions], dim=-1))


class ContrastiveProjections(nn.Module):
    def __init__(self, vision_dim: int, proprio_dim: int, temperature: float):
        super().__init__()
        self.vision = nn.Linear(vision_dim, PROJECTION_DIM)
        self.proprio = nn.Linear(proprio_dim, PROJECTION_DIM)
        self.temperature = temperature

    def loss(self, vision: torch.Tensor, proprio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """InfoNCE loss and the fraction of rows whose image picks its own proprioception."""
        v = F.normalize(self.vision(vision), dim=-1)
        p = F.normalize(self.proprio(proprio), dim=-1)
        logits = v @ p.T / self.temperature
        target = torch.arange(len(v))
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        return loss, (logits.argmax(-1) == target).float().mean()


def proprio_target(obs: dict[str, torch.Tensor], next_obs: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([next_obs[p] - obs[p] for p in PREDICTED_PARTS], dim=-1)
