"""Shared fixtures: one local Ray for the session (2 CPUs, like the CI machine), temporary stores."""

import os
import socket

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def free_port() -> int:
    """A TCP port nothing on 127.0.0.1 listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_session():
    import ray

    from serve import FAST_PATH_ENV

    # Serve's low-latency path, as `python -m serve` runs it; read by the processes ray.init starts.
    for key, value in FAST_PATH_ENV.items():
        os.environ.setdefault(key, value)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()


def write_policy_checkpoint(run_dir, **env_settings):
    """A real policy checkpoint (module + card) for the humanoid under `env_settings`, without training:
    its running normalization is fitted to real observations and its action head scaled up, so actions
    vary with the observation and reach the safety filter's bounds."""
    import numpy as np
    import torch
    from ray.rllib.core.columns import Columns

    import envs
    from envs.humanoid.env import HumanoidLocomotionVecEnv
    from vla_ray.checkpoints import PolicyCard, save_policy_checkpoint
    from vla_ray.models import VLAPPOModule

    env = HumanoidLocomotionVecEnv(num_envs=8, **env_settings)
    torch.manual_seed(0)
    module = VLAPPOModule(
        observation_space=env.single_observation_space, action_space=env.single_action_space, model_config={}
    )
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs, *_ = env.step(rng.uniform(-0.5, 0.5, (8, env.embodiment.action_dim)))
        module.forward_train({Columns.OBS: {k: torch.from_numpy(v) for k, v in obs.items()}})
    with torch.no_grad():
        module.head.mean.weight.mul_(100.0)
    env.close()
    card = PolicyCard(
        env_id=envs.HUMANOID_LOCOMOTION_ID, env_config=dict(env_settings), model_config={}, embodiment="humanoid",
        stage="test", training_iteration=7, env_steps=1234,
    )
    return save_policy_checkpoint(module, run_dir, "policy_iter7", card)
