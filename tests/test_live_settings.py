"""Randomization ranges changed on a running Algorithm reach the environments inside its EnvRunner processes."""

import pytest

from vla_ray.env_settings import apply_env_settings
from vla_ray.training import PPOTrainingConfig, build_ppo_config

ENV_ID = "vla_ray/Manipulation-v0"


@pytest.mark.usefixtures("ray_session")
def test_randomization_ranges_reach_running_env_runners_without_rebuilding_them():
    training = PPOTrainingConfig(num_env_runners=1, num_envs_per_env_runner=2, rollout_fragment_length=16,
                                 minibatch_size=32, model_config={"embodiment": "franka_panda"})
    env_config = {"embodiment": "franka_panda", "task": "reach", "randomization": {"friction": (0.9, 1.0)}}
    algo = build_ppo_config(training, ENV_ID, env_config).build_algo()

    def _friction_after_reset(runner):  # defined here: cloudpickle ships it by value to the EnvRunner process
        env = runner.env.unwrapped
        env.reset(seed=0)
        return [c.randomization_config().friction for c in env._configs]

    try:
        group = algo.env_runner_group
        envs_before = group.foreach_env_runner(lambda r: id(r.env), local_env_runner=False)
        assert group.foreach_env_runner(_friction_after_reset, local_env_runner=False) == [[(0.9, 1.0)] * 2]
        apply_env_settings(algo, {"randomization": {"friction": (0.5, 0.6), "mass_scale": (0.9, 1.1)}})
        assert group.foreach_env_runner(_friction_after_reset, local_env_runner=False) == [[(0.5, 0.6)] * 2]
        assert group.foreach_env_runner(lambda r: id(r.env), local_env_runner=False) == envs_before
        # The driver's config too: a restarted EnvRunner builds its environments with the new ranges.
        assert algo.config.env_config["randomization"] == {"friction": (0.5, 0.6), "mass_scale": (0.9, 1.1)}
    finally:
        algo.stop()
