"""The discriminator: a learner-only RLModule scoring transitions as expert-like, with its own loss.

GAIL: cross-entropy, expert -> 1, policy -> 0; style reward -log(1 - D) = softplus(logit).
AMP: least squares, expert -> +1, policy -> -1, plus a penalty on the gradient at expert samples
(w / 2 * |grad_x D|^2); style reward max(0, 1 - 0.25 (d - 1)^2).
Inputs are standardized with the expert data's mean and std (buffers, so they travel with the
checkpoint), which keeps joint velocities from drowning joint angles.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ray.rllib.core.rl_module.apis import SelfSupervisedLossAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

LOSSES = ("bce", "lsgan")
EXPERT, POLICY, MASK = "expert_features", "policy_features", "mask"


def style_reward(logits: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "bce":
        return F.softplus(logits)
    return torch.clamp(1.0 - 0.25 * (logits - 1.0) ** 2, min=0.0)


def gradient_penalty(net: nn.Module, expert: torch.Tensor) -> torch.Tensor:
    """Mean squared norm of dD/dx at the expert samples, differentiable (AMP's regularizer)."""
    expert = expert.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(expert).sum(), expert, create_graph=True)
    return grad.pow(2).sum(dim=-1).mean()


class Discriminator(TorchRLModule, SelfSupervisedLossAPI):
    """model_config: input_dim, hidden (widths), loss ("bce" | "lsgan"), gradient_penalty (weight)."""

    def setup(self):
        config = self.model_config
        if config.get("loss") not in LOSSES:
            raise ValueError(f"Discriminator model_config loss={config.get('loss')!r}: expected one of {LOSSES}")
        layers, width = [], int(config["input_dim"])
        for hidden in config["hidden"]:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.score = nn.Sequential(*layers)
        self.register_buffer("feature_mean", torch.zeros(int(config["input_dim"])))
        self.register_buffer("feature_std", torch.ones(int(config["input_dim"])))

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(torch.clamp(std, min=1e-3))  # constant features (a fixed command) stay finite

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.score((features - self.feature_mean) / self.feature_std).squeeze(-1)

    def reward(self, features: torch.Tensor) -> torch.Tensor:
        return style_reward(self.logits(features), self.model_config["loss"])

    def _forward(self, batch, **kwargs):
        return {"policy_logits": self.logits(batch[POLICY]), "expert_logits": self.logits(batch[EXPERT])}

    def compute_self_supervised_loss(self, *, learner, module_id, config, batch, fwd_out, **kwargs):
        expert, policy = fwd_out["expert_logits"], fwd_out["policy_logits"]
        mask = batch[MASK].float()
        count = mask.sum().clamp(min=1.0)
        if self.model_config["loss"] == "bce":
            terms = F.softplus(-expert) + F.softplus(policy)
        else:
            terms = 0.5 * ((expert - 1.0) ** 2 + (policy + 1.0) ** 2)
        loss = (terms * mask).sum() / count
        weight = float(self.model_config.get("gradient_penalty", 0.0))
        if weight > 0:
            normalized = (batch[EXPERT] - self.feature_mean) / self.feature_std
            penalty = gradient_penalty(self.score, normalized[mask > 0])
            loss = loss + 0.5 * weight * penalty
            learner.metrics.log_value((module_id, "gradient_penalty"), penalty.detach(), window=1)
        with torch.no_grad():
            metrics = {
                "loss": loss,
                "expert_accuracy": ((expert > 0).float() * mask).sum() / count,
                "policy_accuracy": ((policy < 0).float() * mask).sum() / count,
                "expert_score": (expert * mask).sum() / count,
                "policy_score": (policy * mask).sum() / count,
                "style_reward_mean": (style_reward(policy, self.model_config["loss"]) * mask).sum() / count,
            }
        for name, value in metrics.items():
            learner.metrics.log_value((module_id, name), value.detach(), window=1)
        return loss
