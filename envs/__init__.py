"""MuJoCo environments of vla-ray, registered with gymnasium on import.

RLlib and gymnasium can name them as "envs:<id>", which imports this package (and so
registers the ids) in whichever process builds the environment.
"""

import os

# Render offscreen by default (servers and CI have no display); a user's own MUJOCO_GL wins.
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402

HUMANOID_LOCOMOTION_ID = "vla_ray/HumanoidLocomotion-v0"

# A flat registry: id -> (single-env entry point, natively batched vector entry point).
ENVIRONMENTS = {
    HUMANOID_LOCOMOTION_ID: ("envs.humanoid.env:HumanoidLocomotionEnv", "envs.humanoid.env:HumanoidLocomotionVecEnv"),
}

for _env_id, (_entry_point, _vector_entry_point) in ENVIRONMENTS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry_point, vector_entry_point=_vector_entry_point, disable_env_checker=True)
