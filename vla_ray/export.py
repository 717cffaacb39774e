"""Export a trained policy as TorchScript and ONNX for a robot that runs without Python, Ray or MiniLM.

    python -m vla_ray.export --checkpoint runs/humanoid_curriculum --out exported/ [--instruction TEXT]

The exported graph maps the raw policy observation parts to the action `Policy.act(obs,
deterministic=True)` returns: running normalization, the actor tower, the action head and
its deterministic action (vla_ray.models.heads), the clip to [-1, 1]. The instruction is
fixed at export time: its MiniLM embedding is computed once and baked in as a constant,
since the sentence encoder stays outside the module (see InstructionEncoder). Inputs are
the parts the actor reads, in the order it reads them: joint_pos, joint_vel, imu, contacts,
force_torque, command, prev_action, then proprio_history and camera_rgb (uint8) when the
policy has them, then the parts the head reads itself (the CPG head's gait_clock); never
the instruction or the critic-only parts. `policy_interface.json` lists them with shapes,
dtypes and units.
Action scaling and the safety filter stay on the robot (vla_ray.control), as in serving.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.utils import _pair

import envs
from vla_ray.embodiment import embodiment_to_dict
from vla_ray.interface import PolicyInterface
from vla_ray.language import encode_instruction
from vla_ray.models.vla_module import PROPRIO_GROUPS, VLAPPOModule, normalized_parts
from vla_ray.observation import ObservationSpec
from vla_ray.policy import Policy

TORCHSCRIPT_FILE, ONNX_FILE, INTERFACE_FILE = "policy.pt", "policy.onnx", "policy_interface.json"
OUTPUT_NAME = "action"
ONNX_OPSET = 17  # supported by every onnxruntime release since 1.11
EXAMPLE_BATCH = 2  # not 1: a size-1 axis broadcasts, so the tracers could bake it in instead of the batch
ROBOT_SIDE_NOTE = (
    "The output is the normalized action in [-1, 1]. The robot must still map it to joint targets with the "
    "embodiment's action scaling (or, for action_type end_effector, the inverse kinematics of "
    "vla_ray.control.end_effector) and pass them through the safety filter, stepping from the measured positions "
    "in current_position_parts, concatenated (vla_ray.control.JointCommander), exactly as the training "
    "environment and the server do."
)


@dataclass(frozen=True)
class ExportedPolicy:
    torchscript: Path
    onnx: Path
    interface: Path


class DeterministicActor(nn.Module):
    """The actor path of a VLAPPOModule as a plain function of positional tensors, for tracing.

    The instruction embedding is a buffer, so the traced graph carries it as a constant.
    """

    def __init__(self, module: VLAPPOModule, input_names: tuple[str, ...], instruction_embedding: torch.Tensor | None):
        super().__init__()
        self.input_names = input_names
        self.norms = nn.ModuleDict({name: module.norms[name] for name in input_names if name in module.norms})
        self.actor = module.actor
        self.head = module.head
        self.register_buffer("instruction_embedding", instruction_embedding)

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        raw = dict(zip(self.input_names, parts))
        obs = normalized_parts(self.norms, raw)
        instruction = None
        if self.instruction_embedding is not None:
            instruction = self.instruction_embedding.expand(parts[0].shape[0], -1)
        return torch.clamp(self.head.deterministic(self.head(self.actor(obs, instruction), raw)), -1.0, 1.0)


class FixedAdaptiveAvgPool2d(nn.Module):
    """AdaptiveAvgPool2d for one known input size, as two constant averaging matrices.

    The same averages, in a form the TorchScript-based ONNX exporter accepts: it refuses adaptive
    pooling whose output size does not divide the input (the vision encoder's 4x4 from 6x6 or 1x1).
    """

    def __init__(self, input_hw: tuple[int, int], output_hw: tuple[int, int]):
        super().__init__()
        self.register_buffer("rows", _averaging_matrix(input_hw[0], output_hw[0]))
        self.register_buffer("cols", _averaging_matrix(input_hw[1], output_hw[1]).T.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows @ x @ self.cols


def _averaging_matrix(size_in: int, size_out: int) -> torch.Tensor:
    # PyTorch's adaptive pooling bins: output i averages inputs [floor(i*n/m), ceil((i+1)*n/m)).
    matrix = torch.zeros(size_out, size_in)
    for i in range(size_out):
        start, end = (i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)  # floor, ceil
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _fix_adaptive_pools(model: nn.Module, example: tuple[torch.Tensor, ...]) -> None:
    """Replace every AdaptiveAvgPool2d in `model` by the FixedAdaptiveAvgPool2d for the size it sees on `example`."""
    pools = {name: m for name, m in model.named_modules() if isinstance(m, nn.AdaptiveAvgPool2d)}
    input_hw: dict[str, tuple[int, int]] = {}

    def recorder(name: str):
        def record(_pool, args):
            input_hw[name] = tuple(args[0].shape[-2:])
        return record

    hooks = [pool.register_forward_pre_hook(recorder(name)) for name, pool in pools.items()]
    with torch.no_grad():
        model(*example)
    for hook in hooks:
        hook.remove()
    for name, pool in pools.items():
        output_hw = tuple(i if o is None else o for o, i in zip(_pair(pool.output_size), input_hw[name]))
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, FixedAdaptiveAvgPool2d(input_hw[name], output_hw))


def actor_inputs(module: VLAPPOModule) -> tuple[str, ...]:
    """The observation parts the actor tower reads, in the order it reads them."""
    actor = module.actor
    names = [part for group in actor.proprio.order for part in PROPRIO_GROUPS[group]]
    names += actor.task_parts
    if actor.history is not None:
        names.append("proprio_history")
    if actor.vision is not None:
        names.append("camera_rgb")
    return (*names, *(part for part in module.head.observation_parts if part not in names))


def _instruction_embedding(module: VLAPPOModule, instruction: str | None) -> torch.Tensor | None:
    if module._instructions is None:
        if instruction is not None:
            raise ValueError(f"instruction={instruction!r}: this policy reads no instruction; expected None")
        return None
    if instruction is None:
        raise ValueError("instruction=None: this policy is language-conditioned; expected the instruction text")
    # The same path as Policy.act: wire bytes (length-checked) -> the module's own cached encoder.
    codes = torch.from_numpy(encode_instruction(instruction))[None]
    return module._instructions.embed_codes(codes).detach().clone()


def _check_inputs_match(module: VLAPPOModule, spec: ObservationSpec, names: tuple[str, ...]) -> None:
    spaces = module.observation_space.spaces
    for name in names:
        part = spec.part(name)
        if tuple(part.shape) != tuple(spaces[name].shape) or part.dtype != str(spaces[name].dtype):
            raise ValueError(
                f"observation part {name!r}: the module reads {spaces[name].shape} {spaces[name].dtype}, but the "
                f"checkpoint's env_config gives {part.shape} {part.dtype}: expected the environment it trained on"
            )


def _finite_or_none(bound: float) -> float | None:
    # JSON has no infinity: an unbounded side is null.
    return float(bound) if math.isfinite(bound) else None


def _interface_json(policy: Policy, interface: PolicyInterface, names: tuple[str, ...], instruction: str | None) -> dict:
    spec = interface.observation_spec
    inputs = [
        {
            "name": name, "shape": list(part.shape), "dtype": part.dtype, "unit": part.unit,
            "description": part.description, "low": _finite_or_none(part.low), "high": _finite_or_none(part.high),
        }
        for name, part in ((name, spec.part(name)) for name in names)
    ]
    card = policy.card
    width = int(policy.module.action_space.shape[0])
    chunk = width // interface.embodiment.action_dim
    meaning = "deterministic normalized action, embodiment joint order"
    if chunk > 1:
        meaning = (f"deterministic normalized actions of the next {chunk} control steps in order, each in embodiment "
                   "joint order")
    return {
        "files": {"torchscript": TORCHSCRIPT_FILE, "onnx": ONNX_FILE},
        "batch": "every input and the output have a leading batch axis of any size",
        "inputs": inputs,
        "output": {
            "name": OUTPUT_NAME, "shape": [width], "dtype": "float32", "low": -1.0, "high": 1.0, "description": meaning,
        },
        "instruction": instruction,
        "embodiment": embodiment_to_dict(interface.embodiment),
        "control_frequency_hz": interface.embodiment.control_frequency_hz,
        "current_position_parts": list(interface.current_position_parts),
        "robot_side": ROBOT_SIDE_NOTE,
        "source": {
            "env_id": card.env_id, "env_config": card.env_config, "stage": card.stage,
            "training_iteration": card.training_iteration, "env_steps": card.env_steps,
        },
    }


def export_policy(policy: Policy, out_dir: str | Path, instruction: str | None = None) -> ExportedPolicy:
    """Write policy.pt, policy.onnx and policy_interface.json to out_dir.

    instruction: the text the robot will follow; None means the checkpoint's task instruction.
    """
    module = policy.module
    if not isinstance(module, VLAPPOModule):
        raise TypeError(f"export_policy: policy.module is a {type(module).__name__}: expected a VLAPPOModule")
    # The robot side of the policy as trained (the card's settings): parts with units, embodiment, task instruction.
    interface = envs.policy_interface(policy.card.env_id, policy.card.env_config)
    if instruction is None and module._instructions is not None:
        instruction = interface.instruction
    names = actor_inputs(module)
    _check_inputs_match(module, interface.observation_spec, names)
    # A frozen copy: the graph's outputs then need no grad, and the live module is left untouched.
    actor = copy.deepcopy(DeterministicActor(module, names, _instruction_embedding(module, instruction)))
    actor.requires_grad_(False).eval()
    spaces = module.observation_space.spaces
    example = tuple(torch.zeros((EXAMPLE_BATCH, *spaces[n].shape), dtype=getattr(torch, str(spaces[n].dtype))) for n in names)
    _fix_adaptive_pools(actor, example)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = ExportedPolicy(out_dir / TORCHSCRIPT_FILE, out_dir / ONNX_FILE, out_dir / INTERFACE_FILE)
    with torch.no_grad(), warnings.catch_warnings():
        # torch 2.13 deprecates both tracers in favour of torch.export, yet TorchScript is what libtorch loads
        # and the TorchScript-based ONNX exporter needs no onnxscript; torch is pinned below 2.14.
        for message in (r"`torch\.jit\.\w+` is deprecated", r"You are using the legacy TorchScript-based ONNX export"):
            warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        torch.jit.trace(actor, example).save(str(paths.torchscript))
        torch.onnx.export(
            actor, example, str(paths.onnx), dynamo=False, opset_version=ONNX_OPSET,
            input_names=list(names), output_names=[OUTPUT_NAME],
            dynamic_axes={name: {0: "batch"} for name in (*names, OUTPUT_NAME)},
        )
    paths.interface.write_text(json.dumps(_interface_json(policy, interface, names, instruction), indent=2))
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint directory, or a run directory (uses LATEST)")
    parser.add_argument("--out", required=True, help="directory for policy.pt, policy.onnx, policy_interface.json")
    parser.add_argument("--instruction", default=None, help="default: the instruction of the checkpoint's task")
    args = parser.parse_args(argv)
    exported = export_policy(Policy.from_checkpoint(args.checkpoint), args.out, args.instruction)
    for path in (exported.torchscript, exported.onnx, exported.interface):
        print(path)


if __name__ == "__main__":
    main()
