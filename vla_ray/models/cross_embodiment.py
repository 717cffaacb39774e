"""Cross-embodiment PPO (the embodiment guide's stage 4): one shared policy, a small adapter per arm.

Every arm has its own RLModule (ArmAdapterModule) in one MultiRLModule (SharedTrunkMultiModule), and
RLlib's policy mapping sends each robot's batch to its arm's module. A module is
- an adapter: the arm's own joint readings (joint_pos, joint_vel; 6 or 7 of each) -> ADAPTER_DIM
  features, with its own running normalization. Its last layer starts at zero, so an arm the policy has
  never seen starts as "the shared policy without joint features", not as noise;
- the shared part (SharedArmPolicy), the same nn.Module object in every arm's module: the parts every arm
  observes alike (gripper opening, hand pose, goal and object poses, each target's offset from the hand,
  previous action) with their running norms, the actor trunk and its Gaussian over the abstract 7-DoF
  end-effector action, and the critic.

The shared parameters sit in every module's state (so each arm's checkpoint is complete) but are
updated by one optimizer only: SharedTrunkPPOLearner gives each parameter to the first module that
claims it, so a shared weight gets exactly one Adam step per update, from the sum of every arm's loss.

model_config keys: embodiment (required: the arm's preset name), hidden (default [256, 128]),
init_log_std (default -2.3, as VLAPPOModule: std 0.1, i.e. 0.1 m/s of hand jitter), shared_checkpoint
(a file from save_shared_policy: the shared part starts from it; how a trained policy meets a new arm).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.core.distribution.torch.torch_distribution import TorchDiagGaussian

from vla_ray.embodiment import get_embodiment
from vla_ray.models.encoders import init_orthogonal, mlp
from vla_ray.models.normalization import RunningNorm, update_norms
from vla_ray.models.vla_module import check_trunk_settings, refuse_unknown_keys

ARM_PARTS = ("joint_pos", "joint_vel")  # arm-specific widths: read by the arm's adapter only
# Parts that do not feed the actor: the instruction (one task, one sentence here) and the critic-only part.
NOT_SHARED = set(ARM_PARTS) | {"instruction", "privileged"}
# Positions are normalized; openings, unit axes and the previous action are already O(1).
NORMALIZED_SHARED = ("ee_pos", "goal_pos", "object_pos")
# Where each target is from the hand, in the frame the end-effector action moves in: the same numbers on every
# arm, and reaching is a linear function of them (the reference controller's a = k (goal - hand)), where the
# separately normalized positions would leave the trunk to learn that difference.
HAND_OFFSET_TARGETS = ("goal_pos", "object_pos")
ADAPTER_DIM = 64
MODEL_CONFIG_KEYS = {"embodiment", "hidden", "init_log_std", "shared_checkpoint"}


def shared_parts(part_dims: dict[str, tuple[int, ...]]) -> list[str]:
    return sorted(p for p, shape in part_dims.items() if p not in NOT_SHARED and len(shape) == 1)


class SharedArmPolicy(nn.Module):
    """What every arm's module shares: norms, actor trunk, action mean and log-std, critic."""

    def __init__(self, part_dims: dict[str, tuple[int, ...]], action_dim: int, hidden: list[int], init_log_std: float):
        super().__init__()
        self.offset_targets = [p for p in HAND_OFFSET_TARGETS if p in part_dims]
        offsets = {f"hand_to_{p}": part_dims[p] for p in self.offset_targets}
        inputs = {**{p: part_dims[p] for p in shared_parts(part_dims)}, **offsets}
        self.inputs = list(inputs)  # what the actor and critic read, in order
        self.norms = nn.ModuleDict({
            p: RunningNorm(dims) for p, dims in inputs.items() if p in NORMALIZED_SHARED or p in offsets
        })
        width = sum(dims[0] for dims in inputs.values()) + ADAPTER_DIM
        self.privileged = "privileged" in part_dims
        self.actor = mlp([width, *hidden], "elu")
        self.mean = nn.Linear(hidden[-1], action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))
        self.critic = mlp([width + (part_dims["privileged"][0] if self.privileged else 0), *hidden], "elu")
        self.value = nn.Linear(hidden[-1], 1)
        for net in (self.actor, self.critic):
            init_orthogonal(net)
        init_orthogonal(self.mean, gain=0.01)  # near-zero first actions: hold the arm where it is
        init_orthogonal(self.value, gain=1.0)

    def with_hand_offsets(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """obs plus hand_to_<target>: each target position (several objects: each) minus the hand's."""
        hand = obs["ee_pos"].float().unsqueeze(-2)  # one gripper: (B, 1, 3)
        offsets = {f"hand_to_{p}": (obs[p].float().unflatten(-1, (-1, 3)) - hand).flatten(-2) for p in self.offset_targets}
        return {**obs, **offsets}

    def features(self, obs: dict[str, torch.Tensor], arm_features: torch.Tensor) -> torch.Tensor:
        parts = [self.norms[p](obs[p].float()) if p in self.norms else obs[p].float() for p in self.inputs]
        return torch.cat([*parts, arm_features], dim=-1)

    def action_inputs(self, features: torch.Tensor) -> torch.Tensor:
        mean = self.mean(self.actor(features))
        return torch.cat([mean, self.log_std.expand_as(mean)], dim=-1)

    def values(self, features: torch.Tensor, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.privileged:
            features = torch.cat([features, obs["privileged"].float()], dim=-1)
        return self.value(self.critic(features)).squeeze(-1)


class ArmAdapter(nn.Module):
    """One arm's joint readings -> ADAPTER_DIM features (zero at initialization)."""

    def __init__(self, part_dims: dict[str, tuple[int, ...]]):
        super().__init__()
        self.norms = nn.ModuleDict({p: RunningNorm(part_dims[p]) for p in ARM_PARTS})
        self.net = mlp([sum(part_dims[p][0] for p in ARM_PARTS), 128, ADAPTER_DIM], "elu", last_activation=False)
        init_orthogonal(self.net)
        nn.init.zeros_(self.net[-1].weight)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(torch.cat([self.norms[p](obs[p].float()) for p in ARM_PARTS], dim=-1))


def resolve_arm_config(model_config: dict | None) -> dict[str, Any]:
    """Our keys with their defaults, validated (a key neither ours nor RLlib's is refused)."""
    refuse_unknown_keys(model_config or {}, MODEL_CONFIG_KEYS, owner="ArmAdapterModule: ")
    given = {k: v for k, v in (model_config or {}).items() if k in MODEL_CONFIG_KEYS}
    cfg = {"hidden": [256, 128], "init_log_std": -2.3, "shared_checkpoint": None, **given}
    if "embodiment" not in cfg or get_embodiment(cfg["embodiment"]).robot_type != "single_arm":
        raise ValueError(f"ArmAdapterModule: model_config.embodiment={cfg.get('embodiment')!r}: expected a single-arm preset")
    check_trunk_settings(cfg)
    return cfg


class ArmAdapterModule(TorchRLModule, ValueFunctionAPI):
    def setup(self):
        cfg = resolve_arm_config(self.model_config)
        part_dims = {name: tuple(space.shape) for name, space in self.observation_space.spaces.items()}
        missing = [p for p in ARM_PARTS if p not in part_dims]
        if missing:
            raise ValueError(f"ArmAdapterModule({cfg['embodiment']}): observation lacks {missing}")
        action_dim = self.action_space.shape[0]
        expected = get_embodiment(cfg["embodiment"]).with_action_type("end_effector").action_dim
        if action_dim != expected:
            raise ValueError(f"ArmAdapterModule({cfg['embodiment']}): action space has {action_dim} dims: expected "
                             f"{expected}, the end-effector action (envs MultiArmEnv / action_type='end_effector')")
        self.adapter = ArmAdapter(part_dims)
        self.shared = SharedArmPolicy(part_dims, action_dim, list(cfg["hidden"]), cfg["init_log_std"])
        if cfg["shared_checkpoint"]:
            self.shared.load_state_dict(torch.load(cfg["shared_checkpoint"], weights_only=True))
        self.action_dist_cls = TorchDiagGaussian

    def _features(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.shared.features(obs, self.adapter(obs))

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs = self.shared.with_hand_offsets(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.shared.action_inputs(self._features(obs))}

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs = self.shared.with_hand_offsets(batch[Columns.OBS])
        # Statistics follow the training data, as in VLAPPOModule; they reach EnvRunners with the weights.
        update_norms(self.adapter.norms, obs)
        update_norms(self.shared.norms, obs)
        features = self._features(obs)
        return {Columns.ACTION_DIST_INPUTS: self.shared.action_inputs(features), Columns.EMBEDDINGS: features}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        obs = batch[Columns.OBS]
        if embeddings is None:
            embeddings = self._features(self.shared.with_hand_offsets(obs))
        return self.shared.values(embeddings, obs)


class SharedTrunkMultiModule(MultiRLModule):
    """Ties the arms' modules together: after they are built, every one holds the first one's SharedArmPolicy."""

    def setup(self):
        super().setup()
        modules = list(self._rl_modules.values())
        for module in modules[1:]:
            module.shared = modules[0].shared


class SharedTrunkPPOLearner(PPOTorchLearner):
    """PPO whose per-module optimizers split the parameters: a parameter already given to one module's optimizer
    (the shared part) is left out of the next, so it is stepped once per update."""

    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        claimed = {id(p) for params in self._optimizer_parameters.values() for p in params}
        params = [p for p in self.get_parameters(self._module[module_id]) if id(p) not in claimed]
        self.register_optimizer(
            module_id=module_id, optimizer=torch.optim.Adam(params), params=params, lr_or_lr_schedule=config.lr,
        )


def save_shared_policy(module: ArmAdapterModule, path: Path) -> Path:
    """The shared part of a trained arm module, for `model_config["shared_checkpoint"]`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(module.shared.state_dict(), path)
    return path
