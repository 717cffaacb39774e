"""A trained policy outside RLlib's sampling loop: load the module from a checkpoint and act.

Evaluation (and serving) call `Policy.act`, which applies exactly what the EnvRunner
applies: the module's forward pass, the action distribution's mean or a sample, and the
clip to the action space. Action scaling and the safety filter are the environment's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from vla_ray.checkpoints import PolicyCard, module_path, resolve_checkpoint


class Policy:
    def __init__(self, module: RLModule, card: PolicyCard):
        self.module = module.eval()
        self.card = card

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> "Policy":
        # Absolute: RLlib reads checkpoints through pyarrow filesystems, which take URIs or absolute paths.
        checkpoint = resolve_checkpoint(path).resolve()
        card = PolicyCard.load(checkpoint)
        module = RLModule.from_checkpoint(str(module_path(checkpoint)))
        if not isinstance(module, torch.nn.Module) or not list(module.parameters()):
            # RLModule.from_checkpoint can return an empty module when the class fails to import (ray#63093).
            raise RuntimeError(f"{checkpoint}: the policy module did not load (is vla_ray importable here?)")
        return cls(module, card)

    @torch.no_grad()
    def act(self, observations: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        """(B, action_dim) normalized actions in [-1, 1] for a batch of observations (parts with a leading B)."""
        batch = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in observations.items()}
        out = self.module.forward_inference({Columns.OBS: batch})
        dist_cls = self.module.get_inference_action_dist_cls()
        dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
        action = dist.to_deterministic().sample() if deterministic else dist.sample()
        return np.clip(action.numpy(), -1.0, 1.0)
