"""PolicyRuntime: one checkpoint, ready to answer control requests.

Loads the module and policy card, derives the PolicyInterface the checkpoint was trained
with (observation parts, embodiment, default instruction), and turns validated observations
into commands through the same Policy.act and JointCommander the environment uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import envs
from envs.simulation import joint_commander
from serve.validation import ObservationValidator
from vla_ray.checkpoints import module_path, resolve_checkpoint
from vla_ray.control import SafetyReport
from vla_ray.policy import Policy

MODULE_STATE = "module_state.pkl"


@dataclass(frozen=True)
class ActRequest:
    """One validated observation: arrays per module input part, and how to pick the action."""

    parts: dict[str, np.ndarray]
    deterministic: bool = True


def checkpoint_version(checkpoint: Path, card) -> str:
    """`<checkpoint dir>@iter<N>-<sha256 of the weights, 12 hex>`: names the exact weights that acted."""
    digest = hashlib.sha256((module_path(checkpoint) / MODULE_STATE).read_bytes()).hexdigest()[:12]
    return f"{checkpoint.name}@iter{card.training_iteration}-{digest}"


class PolicyRuntime:
    def __init__(self, name: str, policy: Policy, version: str):
        self.name = name
        self.policy = policy
        self.version = version
        self.interface = envs.policy_interface(policy.card.env_id, policy.card.env_config)
        # The environment's own commander, so an end-effector action's IK solves on the same robot model.
        self.commander = joint_commander(self.interface.embodiment, policy.card.env_config.get("model_path"))
        self.validate = ObservationValidator(self.interface.observation_spec, self.interface.instruction)
        self._joint_names = np.asarray(self.interface.embodiment.joint_names)  # indexed by the safety report
    @classmethod
    def load(cls, name: str, checkpoint: str | Path) -> "PolicyRuntime":
        """Load from a checkpoint directory or a run directory (its LATEST), then warm up: the first request
        must not pay for loading the instruction encoder."""
        path = resolve_checkpoint(checkpoint).resolve()
        policy = Policy.from_checkpoint(path)
        runtime = cls(name, policy, checkpoint_version(path, policy.card))
        runtime.act([ActRequest(runtime.example_parts())])
        return runtime

    def example_parts(self) -> dict[str, np.ndarray]:
        """A valid observation: the robot at rest in its nominal pose (warms up the encoders; tests build on it)."""
        spec = self.interface.observation_spec
        observation = {p.name: np.clip(np.zeros(p.shape), p.low, p.high).tolist() for p in self.validate.numeric_parts}
        observation.update({name: value.tolist() for name, value in self.interface.nominal_positions().items()})
        image = None
        if self.validate.takes_image:
            image = blank_png(spec.part("camera_rgb").shape)
        return self.validate(observation, None, image)

    def act(self, requests: list[ActRequest]) -> list[dict]:
        """Commands for a batch of validated observations, one response body per request, in order."""
        batch = {name: np.stack([r.parts[name] for r in requests]) for name in requests[0].parts}
        deterministic = np.array([r.deterministic for r in requests])
        normalized = self.policy.act(batch, deterministic)
        steps = normalized.reshape(len(requests), -1, self.interface.embodiment.action_dim)
        # A chunk policy (the skills head) answers several control steps at once: each step is scaled and safety
        # filtered from where the previous step's targets take the joints, as the environment executes it.
        commands, current = [], self.interface.current_positions(batch)
        for h in range(steps.shape[1]):
            commands.append(self.commander(steps[:, h], current))
            current = commands[-1].targets
        joints = self._joint_names
        first = commands[0]
        # One report for the whole chunk: a joint counts as clamped if any step clamped it.
        report = SafetyReport(*(np.any([getattr(c.safety, f.name) for c in commands], axis=0)
                                for f in dataclasses.fields(SafetyReport)))
        responses = []
        for i in range(len(requests)):
            response = {
                "policy": self.name,
                "policy_version": self.version,
                "action": first.targets[i].tolist(),
                # null where the policy output was not finite (JSON has no NaN); the action then holds position.
                "normalized_action": None if report.fallback[i] else normalized[i].tolist(),
                "safety": {
                    "intervened": bool(report.intervened[i]),
                    "fallback": bool(report.fallback[i]),
                    "limit_clamped": joints[report.limit_clamped[i]].tolist(),
                    "velocity_clamped": joints[report.velocity_clamped[i]].tolist(),
                },
            }
            if len(commands) > 1:
                response["action_chunk"] = [c.targets[i].tolist() for c in commands]
            responses.append(response)
        return responses

    def describe(self) -> dict:
        """The listing entry of GET /v1/policies: everything a client needs to build a request."""
        embodiment = self.interface.embodiment
        card = self.policy.card
        parts = [
            {"name": p.name, "shape": list(p.shape), "unit": p.unit, "description": p.description,
             "low": p.low, "high": p.high}
            for p in self.validate.numeric_parts
        ]
        grippers = [f"{embodiment.ee_type}_{i}" for i in range(embodiment.ee_action_dim)]
        return {
            "name": self.name,
            "policy_version": self.version,
            "env_id": card.env_id,
            "embodiment": embodiment.robot_name,
            "robot_type": embodiment.robot_type,
            "control_frequency_hz": embodiment.control_frequency_hz,
            "task": card.env_config.get("task"),
            "env_config": card.env_config,  # the settings it last trained under, to simulate the same robot
            "default_instruction": self.interface.instruction,
            "takes_instruction": "instruction" in self.interface.observation_spec.names,
            "takes_image": self.validate.takes_image,
            "observation": parts,
            "action": {
                "names": list(embodiment.joint_names) + grippers,
                "units": ["rad"] * embodiment.num_joints + ["1 (0 closed, 1 open)"] * len(grippers),
                "low": embodiment.joint_lower.tolist() + [0.0] * len(grippers),
                "high": embodiment.joint_upper.tolist() + [1.0] * len(grippers),
                "max_joint_velocity_rad_s": embodiment.max_joint_velocity,
                "action_scaling": embodiment.action_scaling.mode,
                # "end_effector": the policy outputs a hand motion; the server's IK turns it into these joint targets
                "action_type": embodiment.action_type,
            },
            "checkpoint": {"stage": card.stage, "training_iteration": card.training_iteration, "env_steps": card.env_steps},
        }


def blank_png(shape: tuple[int, ...]) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()
