"""MuJoCo environments of vla-ray, registered with gymnasium on import.

RLlib and gymnasium can name them as "envs:<id>", which imports this package (and so
registers the ids) in whichever process builds the environment.
"""

import os

# Render offscreen by default (servers and CI have no display); a user's own MUJOCO_GL wins.
os.environ.setdefault("MUJOCO_GL", "egl")

import importlib  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import gymnasium as gym  # noqa: E402

HUMANOID_LOCOMOTION_ID = "vla_ray/HumanoidLocomotion-v0"
MANIPULATION_ID = "vla_ray/Manipulation-v0"
QUADRUPED_ID = "vla_ray/QuadrupedLocomotion-v0"


@dataclass(frozen=True)
class EnvironmentEntry:
    entry_point: str  # one robot
    vector_entry_point: str  # natively batched robots
    config_class: str  # validated settings; its policy_interface(env_id) needs no simulator


# A flat registry from id to entry (MuJoCo Playground's habit); strings, so importing envs stays cheap.
ENVIRONMENTS = {
    HUMANOID_LOCOMOTION_ID: EnvironmentEntry(
        "envs.humanoid.env:HumanoidLocomotionEnv",
        "envs.humanoid.env:HumanoidLocomotionVecEnv",
        "envs.humanoid.config:HumanoidEnvConfig",
    ),
    MANIPULATION_ID: EnvironmentEntry(
        "envs.manipulation.env:ManipulationEnv",
        "envs.manipulation.env:ManipulationVecEnv",
        "envs.manipulation.config:ManipulationEnvConfig",
    ),
    QUADRUPED_ID: EnvironmentEntry(
        "envs.quadruped.env:QuadrupedEnv",
        "envs.quadruped.env:QuadrupedVecEnv",
        "envs.quadruped.config:QuadrupedEnvConfig",
    ),
}


def _load(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def policy_interface(env_id: str, settings: dict):
    """The PolicyInterface of a registered environment under `settings` (validated), without simulating it."""
    env_id = env_id.removeprefix("envs:")
    if env_id not in ENVIRONMENTS:
        raise KeyError(f"unknown environment {env_id!r}: expected one of {sorted(ENVIRONMENTS)}")
    return _load(ENVIRONMENTS[env_id].config_class).from_kwargs(settings).policy_interface(env_id)


for _env_id, _entry in ENVIRONMENTS.items():
    if _env_id not in gym.registry:
        gym.register(
            id=_env_id, entry_point=_entry.entry_point, vector_entry_point=_entry.vector_entry_point,
            disable_env_checker=True,
        )
