"""Change environment settings on a running Algorithm: every EnvRunner's environments, and the config that
restarted EnvRunners are rebuilt from.

This is how curricula and sweeps move randomization ranges, terrain levels or tasks while
training runs (Isaac Lab fixes them when the environments are built). Environments validate
the settings when they arrive and apply them at each robot's next reset, so no episode mixes
two settings.
"""

from __future__ import annotations


def merge_settings(config: dict, settings: dict) -> None:
    """Update `config` in place; nested mappings (randomization ranges) merge, as environments merge them."""
    for key, value in settings.items():
        current = config.get(key)
        config[key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value


def _apply_on_runner(env_runner, settings: dict) -> None:
    merge_settings(env_runner.config.env_config, settings)  # environments this runner rebuilds start the same way
    if env_runner.env is not None:
        env_runner.env.unwrapped.apply_settings(settings)


def apply_env_settings(algorithm, settings: dict, env_runner_indices: list[int] | None = None) -> None:
    """Apply `settings` on the given EnvRunners (default: all, the local one included)."""
    merge_settings(algorithm.config.env_config, settings)  # the driver's copy, for EnvRunners RLlib restarts or adds
    algorithm.env_runner_group.foreach_env_runner(
        lambda runner: _apply_on_runner(runner, settings),
        remote_worker_ids=env_runner_indices,
        local_env_runner=env_runner_indices is None,
    )
