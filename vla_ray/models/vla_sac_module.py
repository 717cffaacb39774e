"""VLASACModule: the VLA encoders in RLlib's SAC module layout, so SACTorchLearner trains them unchanged.

RLlib's SAC Learner finds its networks by attribute name (pi_encoder + pi, qf_encoder + qf,
qf_twin_encoder + qf_twin, and target copies made with make_target_network), so this module
keeps DefaultSACTorchRLModule's forward passes and replaces only what they run:
- pi_encoder: the VLA actor tower (proprioception sub-encoders, task, embodiment, instruction,
  history, vision, fusion trunk); pi: a linear head to a squashed Gaussian's mean and log-std;
- qf_encoder / qf_twin_encoder: the VLA critic tower (privileged parts included) with the action
  appended after the fusion, then a small trunk; qf / qf_twin: linear Q heads.
Observations are running-normalized and the instruction embedded once per forward pass in the
module, before any tower sees them, so target copies never hold their own statistics.
model_config: the VLA module's keys (vla_ray.models.vla_module) plus RLlib's SAC keys (twin_q, ...).
"""

from __future__ import annotations

import torch
from ray.rllib.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchSquashedGaussian
from ray.rllib.core.models.base import ENCODER_OUT
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from vla_ray.models.encoders import init_orthogonal, mlp
from vla_ray.models.normalization import update_norms
from vla_ray.models.vla_module import (
    ObservationEncoder, input_preprocessing, load_pretrained_encoder, module_inputs, normalized_parts,
    resolve_model_config,
)

# Where the module leaves the instruction embedding for the towers: inside the observation dict, so it
# travels through RLlib's SAC forward passes, which hand the towers {OBS: ..., ACTIONS: ...} only.
INSTRUCTION_EMBEDDING = "_instruction_embedding"
SAC_MODEL_CONFIG_KEYS = {"twin_q", "log_std_bounds"}
LOG_STD_BOUNDS = (-10.0, 2.0)  # keeps the squashed Gaussian's log-probabilities finite


class _Tower(nn.Module):
    """An ObservationEncoder as RLlib's SAC calls encoders: batch -> {ENCODER_OUT: features}; with
    `action_dim`, the batch's actions join the features (a Q encoder)."""

    def __init__(self, encoder: ObservationEncoder, action_dim: int = 0, hidden: int = 256, activation: str = "elu"):
        super().__init__()
        self.encoder = encoder
        self.action_trunk = mlp([encoder.output_dim + action_dim, hidden], activation) if action_dim else None
        self.output_dim = hidden if action_dim else encoder.output_dim

    def forward(self, batch: dict) -> dict:
        obs = batch[Columns.OBS]
        features = self.encoder(obs, obs.get(INSTRUCTION_EMBEDDING))
        if self.action_trunk is not None:
            features = self.action_trunk(torch.cat([features, batch[Columns.ACTIONS].float()], dim=-1))
        return {ENCODER_OUT: features}


class _SquashedGaussianHead(nn.Module):
    """Features -> (mean, log-std) of the squashed Gaussian, the log-std bounded so log-probabilities stay finite."""

    def __init__(self, width: int, action_dim: int):
        super().__init__()
        self.linear = nn.Linear(width, 2 * action_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        mean, log_std = self.linear(features).chunk(2, dim=-1)
        return torch.cat([mean, log_std.clamp(*LOG_STD_BOUNDS)], dim=-1)


class VLASACModule(DefaultSACTorchRLModule):
    def __init__(self, *args, **kwargs):
        # No SACCatalog: it builds its encoders from the observation space and has none for Dict spaces.
        kwargs.pop("catalog_class", None)
        TorchRLModule.__init__(self, *args, catalog_class=None, **kwargs)

    def setup(self):
        cfg = resolve_model_config(self.model_config, extra_keys=SAC_MODEL_CONFIG_KEYS)
        if cfg["action_head"] != "gaussian":
            # SAC needs reparameterized samples; the mixture heads draw a discrete component and have none.
            raise ValueError(f"model_config.action_head={cfg['action_head']!r}: SAC's actor is a squashed "
                             "Gaussian; the other heads train with PPO")
        self.twin_q = bool(self.model_config.get("twin_q", True))
        embodiment, part_dims, action_dim = module_inputs(self, cfg)
        self._instructions, self.norms = input_preprocessing(cfg, part_dims)
        act, width = cfg["activation"], cfg["hidden"][-1]
        self.pi_encoder = _Tower(ObservationEncoder(part_dims, embodiment.num_joints, cfg, privileged=False))
        self.pi = _SquashedGaussianHead(self.pi_encoder.output_dim, action_dim)
        init_orthogonal(self.pi_encoder)
        init_orthogonal(self.pi, gain=0.01)
        load_pretrained_encoder(cfg, self.pi_encoder.encoder, self.norms)
        if not self.inference_only:
            def q_tower() -> _Tower:
                tower = _Tower(ObservationEncoder(part_dims, embodiment.num_joints, cfg, privileged=True),
                               action_dim, width, act)
                init_orthogonal(tower)
                return tower

            self.qf_encoder, self.qf = q_tower(), nn.Linear(width, 1)
            if self.twin_q:
                self.qf_twin_encoder, self.qf_twin = q_tower(), nn.Linear(width, 1)
        else:
            self.eval()

    # -- the module's own step before RLlib's SAC passes ---------------------------------------------
    def _prepared(self, raw: dict) -> dict:
        obs = normalized_parts(self.norms, raw)
        if self._instructions is not None:
            obs[INSTRUCTION_EMBEDDING] = self._instructions.embed_codes(raw["instruction"])
        return obs

    def _forward_inference(self, batch: dict) -> dict:
        features = self.pi_encoder({Columns.OBS: self._prepared(batch[Columns.OBS])})[ENCODER_OUT]
        return {Columns.ACTION_DIST_INPUTS: self.pi(features)}

    def _forward_exploration(self, batch: dict, **kwargs) -> dict:
        return self._forward_inference(batch)

    def _forward_train(self, batch: dict) -> dict:
        update_norms(self.norms, batch[Columns.OBS])
        prepared = {**batch, Columns.OBS: self._prepared(batch[Columns.OBS]),
                    Columns.NEXT_OBS: self._prepared(batch[Columns.NEXT_OBS])}
        return super()._forward_train(prepared)

    def _qf_forward_train_helper(self, batch, encoder, head, squeeze: bool = True):
        out = head(encoder(batch)[ENCODER_OUT])
        return out.squeeze(-1) if squeeze else out

    # The action space is [-1, 1] (the environment scales it to joints): a tanh-squashed Gaussian fits it exactly.
    def get_inference_action_dist_cls(self):
        return TorchSquashedGaussian

    def get_exploration_action_dist_cls(self):
        return TorchSquashedGaussian

    def get_train_action_dist_cls(self):
        return TorchSquashedGaussian
