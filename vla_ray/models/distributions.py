"""Action distributions of the VLA action heads that RLlib does not ship.

TorchGaussianMixture: K diagonal Gaussians with state-dependent weights (the embodiment guide's
GMM head, 5 components). PPO needs from it exact log-probabilities (the ratio), an entropy
(the bonus) and a KL (only with use_kl_loss); a mixture has no closed-form entropy or KL, so
those two are estimates, documented on each method.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.distribution.distribution import Distribution
from ray.rllib.core.distribution.torch.torch_distribution import TorchDeterministic

LOG_STD_RANGE = (-5.0, 2.0)  # the guide's clamp: std from 0.007 to 7.4
KL_SAMPLES = 16


def split_mixture_inputs(logits: torch.Tensor, k: int, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log-weights (..., K), means (..., K, D), clamped log-stds (..., K, D)) from a mixture's inputs."""
    log_weights = torch.log_softmax(logits[..., :k], dim=-1)
    means = logits[..., k:k + k * dim].unflatten(-1, (k, dim))
    log_stds = logits[..., k + k * dim:].unflatten(-1, (k, dim)).clamp(*LOG_STD_RANGE)
    return log_weights, means, log_stds


def heaviest_mean(log_weights: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """(..., D) mean of each row's heaviest component, in operations the export can trace."""
    best = log_weights.argmax(-1)
    index = best[..., None, None].expand(*best.shape, 1, means.shape[-1])
    return torch.gather(means, -2, index).squeeze(-2)


def mixture_mode(logits: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """TorchGaussianMixture's deterministic action straight from its inputs (no shape checks to trace)."""
    log_weights, means, _ = split_mixture_inputs(logits, k, dim)
    return heaviest_mean(log_weights, means)


class TorchGaussianMixture(Distribution):
    """Inputs per row: K component logits, then K means (K x D), then K log-stds (K x D)."""

    def __init__(self, logits: torch.Tensor, num_components: int):
        super().__init__()
        k = num_components
        width = logits.shape[-1] - k
        if width <= 0 or width % (2 * k):
            raise ValueError(f"TorchGaussianMixture: {logits.shape[-1]} inputs do not split into {k} logits, "
                             f"{k} means and {k} log-stds")
        self.num_components, self.action_dim = k, width // (2 * k)
        self.log_weights, self.means, self.log_stds = split_mixture_inputs(logits, k, self.action_dim)

    def _component_logp(self, value: torch.Tensor) -> torch.Tensor:
        """(..., K) log-density of `value` (..., D) under each component."""
        z = (value.unsqueeze(-2) - self.means) * torch.exp(-self.log_stds)
        return (-0.5 * z.pow(2) - self.log_stds - 0.5 * math.log(2 * math.pi)).sum(-1)

    def logp(self, value: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.logsumexp(self.log_weights + self._component_logp(value), dim=-1)

    def sample(self, *, sample_shape=None, **kwargs) -> torch.Tensor:
        shape = torch.Size(sample_shape or ())
        with torch.no_grad():
            component = torch.distributions.Categorical(logits=self.log_weights).sample(shape)
            index = component[..., None, None].expand(*component.shape, 1, self.action_dim)
            mean = torch.gather(self.means.expand(*shape, *self.means.shape), -2, index).squeeze(-2)
            log_std = torch.gather(self.log_stds.expand(*shape, *self.log_stds.shape), -2, index).squeeze(-2)
            return mean + torch.randn_like(mean) * torch.exp(log_std)

    def rsample(self, *, sample_shape=None, **kwargs):
        # The component draw is discrete: no reparameterized gradient (so no SAC with this head).
        raise NotImplementedError("TorchGaussianMixture has no reparameterized sample; use it with PPO")

    def entropy(self, **kwargs) -> torch.Tensor:
        """The upper bound H(weights) + sum_k w_k H(component k): exact for components that do not overlap,
        differentiable, and pushing both the weights and the components to stay spread (an entropy bonus
        that cannot collapse a mixture into one component for free)."""
        weights = self.log_weights.exp()
        component_entropy = (self.log_stds + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1)
        return -(weights * self.log_weights).sum(-1) + (weights * component_entropy).sum(-1)

    def kl(self, other: "TorchGaussianMixture", **kwargs) -> torch.Tensor:
        """A Monte-Carlo estimate, E_self[log p_self - log p_other] over KL_SAMPLES draws; unbiased, not exact."""
        samples = self.sample(sample_shape=(KL_SAMPLES,))
        return (self.logp(samples) - other.logp(samples)).mean(0)

    def to_deterministic(self) -> TorchDeterministic:
        """The mean of the heaviest component: a mode of a mixture with separated components, where the
        mixture's mean could fall between two modes into an action neither would take."""
        return TorchDeterministic(loc=heaviest_mean(self.log_weights, self.means))

    @staticmethod
    def required_input_dim(space: gym.Space, num_components: int = 5, **kwargs) -> int:
        return int(num_components * (1 + 2 * np.prod(space.shape)))

    @classmethod
    def from_logits(cls, logits: torch.Tensor, num_components: int = 5, **kwargs) -> "TorchGaussianMixture":
        return cls(logits, num_components)
