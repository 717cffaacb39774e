"""VLAPPOModule: the seed's humanoid VLA design as an RLlib new-API-stack TorchRLModule for PPO.

Per observation part an encoder (proprioception sub-encoders + fusion, command/previous
action, frozen MiniLM instruction embedding, embodiment embedding, optional history and
vision), a fusion trunk, an action head chosen per robot family (vla_ray.models.heads; the baseline is a
Gaussian with a state-independent log-std), and a separate critic (same encoder layout plus privileged
parts) with a value head.

model_config keys (all optional):
    embodiment: str            robot preset name (default "humanoid")
    action_type: str | None    the environment's action type when it is not the preset's (train.py sets it):
                               "end_effector" for the abstract hand action (vla_ray.control.end_effector)
    hidden: list[int]          trunk sizes (default [256, 128])
    proprio_dim: int           fused proprioception width (default 256)
    activation: str            elu | relu | tanh | silu (default elu)
    init_log_std: float        initial log standard deviation of the actions (default -2.3: std 0.1,
                               a fraction of a PD stance's tolerance to joint noise)
    action_head: str           gaussian | deterministic | gmm | dual_arm | cpg | skills (default gaussian)
    num_components: int        mixture components of the gmm head (default 5, the embodiment guide's)
    primitive_library: str     the skills head's motion-primitive library (vla_ray.primitives), required by it
    pretrained_encoder: str    actor encoders and normalization pretrained on episodes (vla_ray.pretraining)
    use_instruction: bool      encode the instruction part (default True)
    instruction_model_path: str | None   local sentence-transformers model (default: bundled MiniLM)
    use_history: bool, use_vision: bool  read proprio_history / camera_rgb when present (default True)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.torch import TorchRLModule

from vla_ray.embodiment import EmbodimentConfig, get_embodiment
from vla_ray.language import InstructionEncoder, InstructionEncoderConfig
from vla_ray.models.encoders import (
    EmbodimentEmbedding,
    HistoryEncoder,
    ProprioceptionEncoder,
    VisionEncoder,
    init_orthogonal,
    mlp,
)
from vla_ray.models.heads import ACTION_HEADS, make_action_head
from vla_ray.models.normalization import RunningNorm, update_norms
from vla_ray.observation import GAIT_CLOCK_PART

MODEL_CONFIG_KEYS = {
    "embodiment", "hidden", "proprio_dim", "activation", "init_log_std", "use_instruction",
    "instruction_model_path", "use_history", "use_vision", "action_head", "num_components", "primitive_library",
    "pretrained_encoder", "action_type",
}
RLLIB_MODEL_CONFIG_KEYS = {f.name for f in dataclasses.fields(DefaultModelConfig)} | {"vf_share_layers"}
# Observation parts the proprioception encoder reads, by sub-encoder.
PROPRIO_GROUPS = {"joints": ("joint_pos", "joint_vel"), "gripper": ("gripper",), "imu": ("imu",),
                  "contacts": ("contacts",), "force_torque": ("force_torque",)}
# Parts with an encoder of their own; every other vector part (command, previous action, end-effector,
# object and goal poses) is a task part, read by the task encoder.
OWN_ENCODER_PARTS = {p for parts in PROPRIO_GROUPS.values() for p in parts} | {
    "instruction", "proprio_history", "camera_rgb", "privileged", GAIT_CLOCK_PART,
}
NORMALIZED_PARTS = (
    "joint_pos", "joint_vel", "imu", "force_torque", "privileged", "proprio_history",
    "ee_pos", "object_pos", "goal_pos",
)
# Not normalized: the command is constant within a curriculum stage, so its running variance would be ~0
# and the first command of the next stage would blow up to the clip value; it is already O(1) in m/s.
TASK_DIM, INSTRUCTION_DIM, EMBODIMENT_DIM, HISTORY_DIM, VISION_DIM = 64, 64, 128, 128, 128


def normalized_parts(norms: nn.ModuleDict, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The parts as the towers read them: running-normalized where a norm exists, every other part float32
    except the uint8 ones (instruction bytes, camera pixels). Shared with the exported graph (vla_ray.export).
    Parts absent from `obs` are skipped: a deployed policy gets no critic-only parts, and a tower that reads a
    missing part still fails loudly."""
    out = dict(obs)
    for name, value in obs.items():
        if name in norms:
            out[name] = norms[name](value.to(torch.float32))
        elif value.dtype != torch.uint8:
            out[name] = value.to(torch.float32)
    return out


def check_trunk_settings(cfg: dict) -> None:
    """The model_config keys every policy module shares: trunk sizes and the initial log-std."""
    if not cfg["hidden"] or any(int(h) <= 0 for h in cfg["hidden"]):
        raise ValueError(f"model_config.hidden={cfg['hidden']}: expected a non-empty list of positive sizes")
    if not math.isfinite(cfg["init_log_std"]):
        raise ValueError(f"model_config.init_log_std={cfg['init_log_std']}: expected a finite number")


def refuse_unknown_keys(model_config: dict, keys: set[str], owner: str = "") -> None:
    """RLlib merges its own defaults (fcnet_*, vf_share_layers, ...) into every model_config: those pass unread
    next to a module's own `keys`; anything else is a typo and an error."""
    unknown = sorted(set(model_config) - keys - RLLIB_MODEL_CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{owner}model_config: unknown keys {unknown}: expected keys from {sorted(keys)}")


def resolve_model_config(model_config: dict | None, extra_keys: set[str] = frozenset()) -> dict[str, Any]:
    """Our model_config keys with their defaults, validated. An algorithm may add `extra_keys` (SAC's twin_q),
    which pass unread like RLlib's own (refuse_unknown_keys)."""
    given = dict(model_config or {})
    refuse_unknown_keys({k: v for k, v in given.items() if k not in extra_keys}, MODEL_CONFIG_KEYS)
    cfg = {
        "embodiment": "humanoid", "hidden": [256, 128], "proprio_dim": 256, "activation": "elu",
        "init_log_std": -2.3, "use_instruction": True, "instruction_model_path": None,
        "use_history": True, "use_vision": True, "action_head": "gaussian", "num_components": 5,
        "primitive_library": None, "pretrained_encoder": None, "action_type": None,
    }
    cfg.update({k: v for k, v in given.items() if k in MODEL_CONFIG_KEYS})
    cfg["instruction_embedding_dim"] = InstructionEncoderConfig().embedding_dim
    check_trunk_settings(cfg)
    if cfg["action_head"] not in ACTION_HEADS:
        raise ValueError(f"model_config.action_head={cfg['action_head']!r}: expected one of {', '.join(ACTION_HEADS)}")
    if isinstance(cfg["num_components"], bool) or not isinstance(cfg["num_components"], int) or cfg["num_components"] < 1:
        raise ValueError(f"model_config.num_components={cfg['num_components']!r}: expected an integer >= 1")
    if (cfg["action_head"] == "skills") != (cfg["primitive_library"] is not None):
        raise ValueError(f"model_config.primitive_library={cfg['primitive_library']!r}: expected a library path "
                         "with action_head='skills' and None with any other head")
    return cfg


class ObservationEncoder(nn.Module):
    """All part encoders of one tower (actor or critic) and the fusion trunk."""

    def __init__(self, part_dims: dict[str, tuple[int, ...]], num_joints: int, cfg: dict, privileged: bool):
        super().__init__()
        act = cfg["activation"]
        proprio_inputs = {
            group: sum(part_dims[p][0] for p in parts)
            for group, parts in PROPRIO_GROUPS.items() if all(p in part_dims for p in parts)
        }
        self.proprio = ProprioceptionEncoder(proprio_inputs, cfg["proprio_dim"], act)
        self.proprio_dim = cfg["proprio_dim"]
        self.task_parts = [p for p, shape in part_dims.items() if p not in OWN_ENCODER_PARTS and len(shape) == 1]
        self.task = mlp([sum(part_dims[p][0] for p in self.task_parts), TASK_DIM], act)
        self.embodiment = EmbodimentEmbedding(num_joints, EMBODIMENT_DIM)
        width = cfg["proprio_dim"] + TASK_DIM + EMBODIMENT_DIM
        self.instruction = None
        if cfg["use_instruction"] and "instruction" in part_dims:
            self.instruction = mlp([cfg["instruction_embedding_dim"], INSTRUCTION_DIM], act)
            width += INSTRUCTION_DIM
        self.history = None
        if cfg["use_history"] and "proprio_history" in part_dims:
            length, frame = part_dims["proprio_history"]
            self.history = HistoryEncoder(frame, length, HISTORY_DIM, act)
            width += HISTORY_DIM
        self.vision = None
        if cfg["use_vision"] and "camera_rgb" in part_dims:
            self.vision = VisionEncoder(part_dims["camera_rgb"], VISION_DIM, act)
            width += VISION_DIM
        self.privileged = privileged and "privileged" in part_dims
        if self.privileged:
            width += part_dims["privileged"][0]
        self.trunk = mlp([width, *cfg["hidden"]], act)
        self.output_dim = cfg["hidden"][-1]

    def encode_proprio(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.proprio({
            group: torch.cat([obs[p] for p in parts], dim=-1) for group, parts in PROPRIO_GROUPS.items()
            if group in self.proprio.encoders
        })

    def forward(self, obs: dict[str, torch.Tensor], instruction_embedding: torch.Tensor | None) -> torch.Tensor:
        batch = obs["joint_pos"].shape[0]
        features = [
            self.encode_proprio(obs),
            self.task(torch.cat([obs[p] for p in self.task_parts], dim=-1)),
            self.embodiment(batch),
        ]
        if self.instruction is not None:
            features.append(self.instruction(instruction_embedding))
        if self.history is not None:
            features.append(self.history(obs["proprio_history"]))
        if self.vision is not None:
            features.append(self.vision(obs["camera_rgb"]))
        if self.privileged:
            features.append(obs["privileged"])
        return self.trunk(torch.cat(features, dim=-1))


def module_inputs(module, cfg: dict) -> tuple[EmbodimentConfig, dict[str, tuple[int, ...]], int]:
    """The embodiment, observation part shapes and action size a VLA module (PPO or SAC) is built for, once its
    action space is checked against the embodiment's."""
    embodiment = get_embodiment(cfg["embodiment"]).with_action_type(cfg["action_type"])
    part_dims = {name: tuple(space.shape) for name, space in module.observation_space.spaces.items()}
    action_dim = module.action_space.shape[0]
    # The skills head outputs a chunk of several control steps' actions; it checks the chunk length itself.
    chunked = cfg["action_head"] == "skills" and action_dim % embodiment.action_dim == 0
    if action_dim != embodiment.action_dim and not chunked:
        raise ValueError(f"{type(module).__name__}: action space has {action_dim} dims: expected "
                         f"{embodiment.action_dim} for {embodiment.robot_name}")
    return embodiment, part_dims, action_dim


def input_preprocessing(cfg: dict, part_dims: dict) -> tuple[InstructionEncoder | None, nn.ModuleDict]:
    """What every VLA module applies to observations before its towers: the instruction encoder (frozen and
    outside the parameter tree, see InstructionEncoder; one per process, cached) and the running norms."""
    instructions = (
        InstructionEncoder(InstructionEncoderConfig(cfg["instruction_model_path"]))
        if cfg["use_instruction"] and "instruction" in part_dims else None
    )
    return instructions, nn.ModuleDict({p: RunningNorm(part_dims[p]) for p in NORMALIZED_PARTS if p in part_dims})


def load_pretrained_encoder(cfg: dict, encoder: ObservationEncoder, norms: nn.ModuleDict) -> None:
    """Initialize an actor encoder and the norms from model_config["pretrained_encoder"], when it names one."""
    if cfg["pretrained_encoder"]:
        from vla_ray.pretraining.pretrain import load_encoder  # that module builds VLA modules: import it late

        load_encoder(encoder, norms, cfg["pretrained_encoder"])


def _rename_legacy_head_keys(state_dict, prefix, *args):
    """Checkpoints written before heads were selectable kept the Gaussian head's mean and log-std on the module
    itself; they load into GaussianHead unchanged."""
    for old, new in (("action_mean.", "head.mean."), ("action_log_std", "head.log_std")):
        for key in [k for k in state_dict if k.startswith(prefix + old)]:
            state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)


class VLAPPOModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    def setup(self):
        cfg = self._resolved_config()
        embodiment, part_dims, action_dim = module_inputs(self, cfg)
        self._instructions, self.norms = input_preprocessing(cfg, part_dims)
        self.actor = ObservationEncoder(part_dims, embodiment.num_joints, cfg, privileged=False)
        init_orthogonal(self.actor)
        load_pretrained_encoder(cfg, self.actor, self.norms)
        self.head = make_action_head(cfg, embodiment, self.actor.output_dim, action_dim, part_dims)
        self.action_dist_cls = self.head.distribution
        self._register_load_state_dict_pre_hook(_rename_legacy_head_keys)
        if self.inference_only:
            # EnvRunner copy: it only ever infers, so keep it in eval mode (see train()).
            self.eval()
        else:
            self.critic = ObservationEncoder(part_dims, embodiment.num_joints, cfg, privileged=True)
            self.value_head = nn.Linear(self.critic.output_dim, 1)
            init_orthogonal(self.critic)
            init_orthogonal(self.value_head, gain=1.0)

    def _resolved_config(self) -> dict[str, Any]:
        return resolve_model_config(self.model_config)

    # -- helpers -----------------------------------------------------------------------------------
    def _normalized(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return normalized_parts(self.norms, obs)

    def _instruction_embedding(self, obs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self._instructions is None:
            return None
        return self._instructions.embed_codes(obs["instruction"])

    def _action_dist_inputs(self, raw, obs, instruction_embedding) -> torch.Tensor:
        # Heads that read observation parts themselves read them as measured (the skills head's pose), not
        # running-normalized as the towers do.
        return self.head(self.actor(obs, instruction_embedding), raw)

    # -- RLModule API ------------------------------------------------------------------------------
    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        inputs = self._action_dist_inputs(obs, self._normalized(obs), self._instruction_embedding(obs))
        return {Columns.ACTION_DIST_INPUTS: inputs}

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        raw = batch[Columns.OBS]
        # Statistics follow the training data; the updated buffers reach EnvRunners with the weights.
        update_norms(self.norms, raw)
        obs = self._normalized(raw)
        instruction = self._instruction_embedding(raw)
        return {
            Columns.ACTION_DIST_INPUTS: self._action_dist_inputs(raw, obs, instruction),
            Columns.EMBEDDINGS: self.critic(obs, instruction),
        }

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            raw = batch[Columns.OBS]
            embeddings = self.critic(self._normalized(raw), self._instruction_embedding(raw))
        return self.value_head(embeddings).squeeze(-1)

    def train(self, mode: bool = True):
        # RLlib calls eval()/train() around every forward pass; walking ~50 submodules each time cost
        # ~25 us per sampled step. No layer here behaves differently by mode, so skip no-op switches.
        if self.training == mode:
            return self
        return super().train(mode)

    def get_non_inference_attributes(self) -> list[str]:
        return ["critic", "value_head"]
