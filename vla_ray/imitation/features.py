"""The discriminator's input: one vector per transition, built the same way from the policy's training batch
(torch) and from an expert episode dataset (numpy), so both sides of the discriminator see identical features."""

from __future__ import annotations

import numpy as np
import torch

from vla_ray.imitation.config import ImitationConfig
from vla_ray.observation import ObservationSpec


def feature_dim(config: ImitationConfig, spec: ObservationSpec, action_dim: int) -> int:
    parts = {p.name: p for p in spec.parts}
    unknown = [name for name in config.features if name not in parts]
    if unknown:
        raise ValueError(f"ImitationConfig.features: unknown observation parts {unknown}: expected among {sorted(parts)}")
    non_numeric = [name for name in config.features if parts[name].dtype != "float32"]
    if non_numeric:
        raise ValueError(f"ImitationConfig.features: {non_numeric} are not float32 parts (text, images)")
    state = sum(int(np.prod(parts[name].shape)) for name in config.features)
    return 2 * state if config.transition == "state_next_state" else state + action_dim


def _state(observations: dict, names: tuple[str, ...], flat):
    return [flat(observations[name]) for name in names]


def torch_features(config: ImitationConfig, observations: dict, next_observations: dict | None,
                   actions: torch.Tensor | None) -> torch.Tensor:
    """(B, F) features of a training batch: its observations with the actions taken (clipped to the action
    space, as the environment applies them) or the next observations."""
    flat = lambda x: x.reshape(x.shape[0], -1).float()  # noqa: E731
    state = _state(observations, config.features, flat)
    if config.transition == "state_next_state":
        return torch.cat(state + _state(next_observations, config.features, flat), dim=-1)
    return torch.cat(state + [actions.float().clamp(-1.0, 1.0)], dim=-1)


def episode_features(config: ImitationConfig, observations: dict[str, np.ndarray],
                     actions: np.ndarray | None) -> np.ndarray:
    """(T', F) features of one recorded episode (or motion, without actions): T rows with actions, or its T - 1
    consecutive pairs."""
    flat = lambda x: x.reshape(x.shape[0], -1).astype(np.float32)  # noqa: E731
    state = _state(observations, config.features, flat)
    if config.transition == "state_next_state":
        return np.concatenate([s[:-1] for s in state] + [s[1:] for s in state], axis=-1)
    return np.concatenate(state + [np.clip(actions, -1.0, 1.0).astype(np.float32)], axis=-1)
