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
        modules = module_path(checkpoint)
        if not modules.is_dir():
            # RLlib's own error for this is a pyarrow read failure deep inside RLModule.from_checkpoint.
            raise FileNotFoundError(f"{checkpoint}: no policy module at {modules}: expected a checkpoint written by training")
        module = RLModule.from_checkpoint(str(modules))
        if not isinstance(module, torch.nn.Module) or not list(module.parameters()):
            # RLModule.from_checkpoint can return an empty module when the class fails to import (ray#63093).
            raise RuntimeError(f"{checkpoint}: the policy module did not load (is vla_ray importable here?)")
        return cls(module, card)

    @torch.no_grad()
    def act(self, observations: dict[str, np.ndarray], deterministic: bool | np.ndarray = True) -> np.ndarray:
        """(B, action_dim) normalized actions in [-1, 1] for a batch of observations (parts with a leading B).

        `deterministic` is one flag for the batch or a (B,) mask, so a server can batch requests that differ.
        A row whose module output is not finite comes back as NaN: the JointCommander turns it into a hold of
        the current position, and reports it.
        """
        batch = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in observations.items()}
        inputs = self.module.forward_inference({Columns.OBS: batch})[Columns.ACTION_DIST_INPUTS]
        # A diverged network must not crash the caller (torch distributions refuse NaN parameters): such rows
        # get zero distribution inputs here, and their actions are replaced by NaN below.
        broken = ~torch.isfinite(inputs).all(dim=-1)
        if broken.any():
            inputs = torch.where(broken[:, None], torch.zeros_like(inputs), inputs)
        dist = self.module.get_inference_action_dist_cls().from_logits(inputs)
        mask = np.asarray(deterministic, dtype=bool)
        if mask.all():
            action = dist.to_deterministic().sample()
        elif not mask.any():
            action = dist.sample()
        else:
            # Mixed flags only arise from a (B,) mask.
            action = torch.where(torch.from_numpy(mask)[:, None], dist.to_deterministic().sample(), dist.sample())
        action = action.numpy()
        action[broken.numpy()] = np.nan
        return np.clip(action, -1.0, 1.0)
