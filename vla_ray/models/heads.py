"""Action heads of the VLA module, one per robot family (the embodiment guide's heads; the humanoid guide's
skill hierarchy lives in vla_ray.models.skill_head). Each maps the actor trunk's features to the inputs of
its RLlib action distribution, so PPO's ratio, entropy and KL come from that distribution:

    gaussian       a linear mean and a state-independent log-std (the baseline)
    deterministic  a tanh-bounded mean explored with a fixed, untrained std: the policy RL improves is the
                   deterministic map, the noise only explores, and PPO's log-probabilities are exact
    gmm            a mixture of `num_components` Gaussians with state-dependent weights and stds
    dual_arm       one head per arm plus a coordination module adding a learned residual to both arms
    cpg            quadrupeds: a gait encoder, learnable phase oscillators read at the episode clock, one head
                   per leg

`make_action_head` picks one by model_config["action_head"] and checks that it suits the robot.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian
from torch import nn

from vla_ray.embodiment import EmbodimentConfig
from vla_ray.models.distributions import TorchGaussianMixture, mixture_mode
from vla_ray.models.encoders import init_orthogonal, mlp
from vla_ray.observation import GAIT_CLOCK_PART

COORDINATION_SCALE = 0.1  # the guide's weight on the coordination residual
TROT_PHASES = (0.0, math.pi, math.pi, 0.0)  # front-left, front-right, hind-left, hind-right: diagonal pairs in phase
GAIT_FREQUENCY_HZ = 2.0  # a trot's stride frequency at walking speed, the oscillators' initial frequency
MEAN_INIT_GAIN = 0.01  # actions start near the centre of their range, as the Gaussian baseline's do


class DiagonalGaussianHead(nn.Module):
    """Heads whose distribution is RLlib's TorchDiagGaussian: a mean from `action_mean` and a state-independent
    log-std, learned unless `learn_std` is False."""

    distribution = TorchDiagGaussian
    observation_parts: tuple[str, ...] = ()  # parts the head reads itself, besides the trunk's features

    def __init__(self, action_dim: int, cfg: dict, learn_std: bool = True):
        super().__init__()
        self.action_dim = action_dim
        log_std = torch.full((action_dim,), float(cfg["init_log_std"]))
        if learn_std:
            self.log_std = nn.Parameter(log_std)
        else:
            self.register_buffer("log_std", log_std)

    def action_mean(self, features: torch.Tensor, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: torch.Tensor, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        mean = self.action_mean(features, obs)
        return torch.cat([mean, self.log_std.expand_as(mean)], dim=-1)

    def deterministic(self, inputs: torch.Tensor) -> torch.Tensor:
        """The action Policy.act(deterministic=True) takes, from this head's distribution inputs, in plain
        tensor operations (the export traces it)."""
        return inputs[..., : self.action_dim]


class GaussianHead(DiagonalGaussianHead):
    """The baseline: a linear mean."""

    def __init__(self, input_dim: int, action_dim: int, cfg: dict, learn_std: bool = True):
        super().__init__(action_dim, cfg, learn_std)
        self.mean = nn.Linear(input_dim, action_dim)
        init_orthogonal(self.mean, gain=MEAN_INIT_GAIN)

    def action_mean(self, features, obs):
        return self.mean(features)


class DeterministicHead(GaussianHead):
    def __init__(self, input_dim: int, action_dim: int, cfg: dict):
        # The exploration noise is fixed, so only the deterministic map is learned.
        super().__init__(input_dim, action_dim, cfg, learn_std=False)

    def action_mean(self, features, obs):
        return torch.tanh(self.mean(features))


class MixtureHead(nn.Module):
    """The guide's GMM head: component weights, means and (state-dependent) log-stds from the features."""

    observation_parts: tuple[str, ...] = ()

    def __init__(self, input_dim: int, action_dim: int, cfg: dict):
        super().__init__()
        k = self.num_components = int(cfg["num_components"])
        self.action_dim = action_dim
        self.distribution = TorchGaussianMixture.get_partial_dist_cls(num_components=k)
        self.weights = nn.Linear(input_dim, k)
        self.means = nn.Linear(input_dim, k * action_dim)
        self.log_stds = nn.Linear(input_dim, k * action_dim)
        init_orthogonal(self, gain=MEAN_INIT_GAIN)
        with torch.no_grad():
            # Components that start equal get equal gradients and never separate: spread their means apart.
            self.means.bias.uniform_(-0.2, 0.2, generator=torch.Generator().manual_seed(0))
            self.log_stds.bias.fill_(float(cfg["init_log_std"]))

    def forward(self, features, obs):
        return torch.cat([self.weights(features), self.means(features), self.log_stds(features)], dim=-1)

    def deterministic(self, inputs):
        return mixture_mode(inputs, self.num_components, self.action_dim)


class DualArmHead(DiagonalGaussianHead):
    """Left and right arm heads (joints + gripper each) and the guide's coordination module, whose residual is
    added to both arms; the arms' channels are scattered back into the embodiment's action order."""

    def __init__(self, input_dim: int, action_dim: int, cfg: dict, embodiment: EmbodimentConfig):
        super().__init__(action_dim, cfg)
        left, right = arm_channels(embodiment)
        self.arm_dim = len(left)
        self.left_arm = mlp([input_dim, 128, self.arm_dim], cfg["activation"], last_activation=False)
        self.right_arm = mlp([input_dim, 128, self.arm_dim], cfg["activation"], last_activation=False)
        self.coordination = mlp([input_dim, 256, 128, 2 * self.arm_dim], cfg["activation"], last_activation=False)
        for part in (self.left_arm, self.right_arm, self.coordination):
            init_orthogonal(part)
            init_orthogonal(part[-1], gain=MEAN_INIT_GAIN)
        self.register_buffer("order", torch.as_tensor(np.argsort(left + right)), persistent=False)

    def action_mean(self, features, obs):
        residual = COORDINATION_SCALE * self.coordination(features)
        left = self.left_arm(features) + residual[..., : self.arm_dim]
        right = self.right_arm(features) + residual[..., self.arm_dim:]
        return torch.cat([left, right], dim=-1)[..., self.order]


class CPGHead(DiagonalGaussianHead):
    """The guide's CPG-inspired quadruped head. Oscillator i's phase is 2*pi*f*t + phi_i at the episode clock t,
    with a learnable base frequency that the gait encoder modulates (within x0.6..x1.6) and learnable offsets
    phi_i starting from a trot; leg i's head reads the features, the gait code and sin/cos of its phase."""

    observation_parts = (GAIT_CLOCK_PART,)

    def __init__(self, input_dim: int, action_dim: int, cfg: dict, embodiment: EmbodimentConfig,
                 part_dims: dict[str, tuple[int, ...]]):
        super().__init__(action_dim, cfg)
        legs = leg_channels(embodiment)
        if GAIT_CLOCK_PART not in part_dims:
            raise ValueError(f"action_head='cpg' reads the observation part {GAIT_CLOCK_PART!r}: "
                             "train with the environment setting observe_gait_clock=True")
        act = cfg["activation"]
        self.gait_encoder = mlp([input_dim, 256, 64], act)
        self.frequency_modulation = nn.Linear(64, 1)
        self.log_frequency = nn.Parameter(torch.tensor(math.log(GAIT_FREQUENCY_HZ)))
        self.phase_offsets = nn.Parameter(torch.tensor(TROT_PHASES[: len(legs)], dtype=torch.float32))
        self.legs = nn.ModuleList(
            mlp([input_dim + 64 + 2, 128, len(channels)], act, last_activation=False) for channels in legs
        )
        init_orthogonal(self.gait_encoder)
        init_orthogonal(self.frequency_modulation, gain=MEAN_INIT_GAIN)
        for leg in self.legs:
            init_orthogonal(leg)
            init_orthogonal(leg[-1], gain=MEAN_INIT_GAIN)
        self.register_buffer("order", torch.as_tensor(np.argsort(sum(legs, []))), persistent=False)

    def phases(self, gait: torch.Tensor, clock: torch.Tensor) -> torch.Tensor:
        """(B, legs) oscillator phases at the clock (B, 1) in seconds."""
        frequency = torch.exp(self.log_frequency + 0.5 * torch.tanh(self.frequency_modulation(gait)))
        return 2 * math.pi * frequency * clock + self.phase_offsets

    def action_mean(self, features, obs):
        gait = self.gait_encoder(features)
        phases = self.phases(gait, obs[GAIT_CLOCK_PART])
        shared = torch.cat([features, gait], dim=-1)
        legs = [
            leg(torch.cat([shared, torch.sin(phases[:, i : i + 1]), torch.cos(phases[:, i : i + 1])], dim=-1))
            for i, leg in enumerate(self.legs)
        ]
        return torch.cat(legs, dim=-1)[..., self.order]


def arm_channels(embodiment: EmbodimentConfig) -> tuple[list[int], list[int]]:
    """Action channels of the left and right arm: each side's joints, then its gripper channel (the end-effector
    channels follow the joints, left first)."""
    if embodiment.robot_type != "dual_arm" or embodiment.ee_action_dim not in (0, 2):
        raise ValueError(f"action_head='dual_arm' needs a dual-arm robot with 0 or 2 gripper channels: "
                         f"{embodiment.robot_name} is {embodiment.robot_type} with {embodiment.ee_action_dim}")
    sides = []
    for i, side in enumerate(("left", "right")):
        joints = [j for j, spec in enumerate(embodiment.joints) if spec.group.startswith(side)]
        sides.append(joints + ([embodiment.num_joints + i] if embodiment.ee_action_dim else []))
    if len(sides[0]) != len(sides[1]) or len(sides[0]) + len(sides[1]) != embodiment.action_dim:
        raise ValueError(f"action_head='dual_arm': {embodiment.robot_name}'s joint groups do not split into two "
                         f"equal arms (left {len(sides[0])}, right {len(sides[1])} of {embodiment.action_dim} channels)")
    return sides[0], sides[1]


def leg_channels(embodiment: EmbodimentConfig) -> list[list[int]]:
    """Action channels of each leg, in joint order, from the joint groups named '<leg>_leg'."""
    legs: dict[str, list[int]] = {}
    for j, spec in enumerate(embodiment.joints):
        if spec.group.endswith("_leg"):
            legs.setdefault(spec.group, []).append(j)
    if embodiment.robot_type != "quadruped" or len(legs) != 4 or sum(map(len, legs.values())) != embodiment.action_dim:
        raise ValueError(f"action_head='cpg' needs a quadruped whose action is its four legs' joints: "
                         f"{embodiment.robot_name} is {embodiment.robot_type} with legs {sorted(legs)}")
    return list(legs.values())


ACTION_HEADS = ("gaussian", "deterministic", "gmm", "dual_arm", "cpg", "skills")


def make_action_head(cfg: dict, embodiment: EmbodimentConfig, input_dim: int, action_dim: int,
                     part_dims: dict[str, tuple[int, ...]]) -> nn.Module:
    name = cfg["action_head"]
    if name == "gaussian":
        return GaussianHead(input_dim, action_dim, cfg)
    if name == "deterministic":
        return DeterministicHead(input_dim, action_dim, cfg)
    if name == "gmm":
        return MixtureHead(input_dim, action_dim, cfg)
    if name == "dual_arm":
        return DualArmHead(input_dim, action_dim, cfg, embodiment)
    if name == "cpg":
        return CPGHead(input_dim, action_dim, cfg, embodiment, part_dims)
    from vla_ray.models.skill_head import SkillHead  # the primitive library's module; only this head needs it

    return SkillHead(input_dim, action_dim, cfg, embodiment)
