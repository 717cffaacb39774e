"""The humanoid guide's hierarchical head: a skill selector over a motion-primitive library and a motion generator
that decodes the chosen primitive into the next chunk of joint targets (the guide: 16 primitives, 5 steps).

As a distribution this is a mixture over chunks: component k is the chunk primitive k decodes to from
the current pose (its latent centre plus a learned, state-dependent adjustment: the skill's parameters),
weighted by the selector. PPO therefore gets exact log-probabilities from TorchGaussianMixture, and the
deterministic action replays the most likely primitive. Chunks are in `joint_limits` action units
(vla_ray.primitives.windows); the environment must execute them with that scaling and action_chunk equal
to the library's horizon, which `chunk_env_settings` gives.
"""

from __future__ import annotations

import torch
from torch import nn

from vla_ray.embodiment import EmbodimentConfig
from vla_ray.models.distributions import TorchGaussianMixture, mixture_mode
from vla_ray.models.encoders import init_orthogonal, mlp
from vla_ray.primitives.library import PrimitiveLibrary
from vla_ray.primitives.windows import CHUNK_ACTION_SCALING

SELECTOR_INIT_GAIN = 0.01  # near-uniform skill probabilities at the start


def chunk_env_settings(model_config: dict) -> dict:
    """The environment settings a skills-head policy needs (none for any other head)."""
    if model_config.get("action_head") != "skills":
        return {}
    library = PrimitiveLibrary.load(model_config["primitive_library"])
    return {"action_scaling": CHUNK_ACTION_SCALING, "action_chunk": library.horizon}


class SkillHead(nn.Module):
    observation_parts = ("joint_pos",)  # the pose every chunk starts from

    def __init__(self, input_dim: int, action_dim: int, cfg: dict, embodiment: EmbodimentConfig):
        super().__init__()
        library = PrimitiveLibrary.load(cfg["primitive_library"])
        if library.embodiment != embodiment.robot_name or library.joint_names != embodiment.joint_names:
            raise ValueError(f"primitive_library {cfg['primitive_library']}: built for {library.embodiment}, "
                             f"expected one built for {embodiment.robot_name}")
        if embodiment.ee_action_dim or action_dim != library.horizon * embodiment.num_joints:
            raise ValueError(f"action_head='skills': the action space has {action_dim} dims, expected chunks of "
                             f"{library.horizon} x {embodiment.num_joints} joints (environment setting "
                             f"action_chunk={library.horizon}, no gripper channels)")
        k = self.num_components = library.num_primitives
        self.action_dim = action_dim
        self.distribution = TorchGaussianMixture.get_partial_dist_cls(num_components=k)
        self.selector = mlp([input_dim, 256, k], cfg["activation"], last_activation=False)
        self.adjustment = mlp([input_dim, 128, library.latent_dim], cfg["activation"], last_activation=False)
        for part in (self.selector, self.adjustment):
            init_orthogonal(part)
            init_orthogonal(part[-1], gain=SELECTOR_INIT_GAIN)
        # Buffers and parameters of the module, so the checkpoint carries the library's values (the generator is
        # fine-tuned by PPO from the VAE's decoder).
        self.register_buffer("centroids", library.centroids.clone())
        self.generator = library.decoder()
        self.log_std = nn.Parameter(torch.full((action_dim,), float(cfg["init_log_std"])))
        lower = torch.as_tensor(embodiment.joint_lower, dtype=torch.float32)
        upper = torch.as_tensor(embodiment.joint_upper, dtype=torch.float32)
        self.register_buffer("joint_lower", lower, persistent=False)
        self.register_buffer("joint_half_range", (upper - lower) / 2.0, persistent=False)

    def forward(self, features: torch.Tensor, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        batch, k = features.shape[0], self.num_components
        pose = (obs["joint_pos"].to(features.dtype) - self.joint_lower) / self.joint_half_range - 1.0
        latents = self.centroids[None] + self.adjustment(features)[:, None]  # (B, K, latent)
        chunks = self.generator(latents.flatten(0, 1), pose.repeat_interleave(k, dim=0)).view(batch, -1)
        log_stds = self.log_std.expand(batch, k, -1).flatten(1)
        return torch.cat([self.selector(features), chunks, log_stds], dim=-1)

    def deterministic(self, inputs: torch.Tensor) -> torch.Tensor:
        return mixture_mode(inputs, self.num_components, self.action_dim)
