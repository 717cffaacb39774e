"""Record episodes into an episode dataset from a scripted expert or a trained checkpoint.

Both roll out the natively batched environment (num_envs robots, each seeded seed + i at the
first reset) and hand every step to the EpisodeWriter; success is the environment's verdict on
each episode, read exactly as evaluation reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from vla_ray.checkpoints import resolve_checkpoint
from vla_ray.datasets.schema import DatasetInfo, DatasetSource, DatasetSummary
from vla_ray.datasets.writer import EpisodeWriter
from vla_ray.env_settings import merge_settings
from vla_ray.evaluate import episode_success
from vla_ray.policy import Policy

# (batched observations, robots whose episode ended at the last step) -> (N, action_dim) normalized actions
Act = Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]


def record_expert(
    path: str | Path, env_id: str, env_config: dict, episodes: int, num_envs: int = 1, seed: int = 0,
) -> DatasetSummary:
    """Episodes of the scripted expert for a manipulation task (envs.experts)."""
    from envs.experts import expert_for  # the experts import the manipulation environment

    if env_id != envs.MANIPULATION_ID:
        raise ValueError(f"env_id={env_id!r}: scripted experts exist for {envs.MANIPULATION_ID} tasks only")
    env = _make_env(env_id, env_config, num_envs)
    try:
        expert = expert_for(env)
        observations, _ = env.reset(seed=seed)
        expert.reset()  # plans from the state reset() left
        source = DatasetSource("expert", seed, num_envs)
        return _record(path, env, env_config, source, observations, lambda _, started: expert.act(started), episodes)
    finally:
        env.close()


def record_policy(
    path: str | Path, checkpoint: str | Path, episodes: int, env_config: dict | None = None, num_envs: int = 1,
    seed: int = 0, env_id: str | None = None,
) -> DatasetSummary:
    """Episodes of a checkpoint's policy (its deterministic action) in the environment it trained in, under its
    last training settings with `env_config` merged over them; `env_id`, if given, must be the checkpoint's."""
    policy = Policy.from_checkpoint(checkpoint)
    card = policy.card
    if env_id is not None and env_id != card.env_id:
        raise ValueError(f"env_id={env_id!r}: the checkpoint {checkpoint} was trained in {card.env_id!r}")
    settings = dict(card.env_config)
    merge_settings(settings, env_config or {})
    trained = envs.policy_interface(card.env_id, card.env_config).observation_spec
    if envs.policy_interface(card.env_id, settings).observation_spec != trained:
        raise ValueError(
            f"env_config={env_config!r} changes the observation parts the checkpoint {checkpoint} was trained on: "
            "expected settings that keep them (no camera or embodiment change)"
        )
    env = _make_env(card.env_id, settings, num_envs)
    try:
        observations, _ = env.reset(seed=seed)
        source = DatasetSource("checkpoint", seed, num_envs, str(resolve_checkpoint(checkpoint).resolve()))
        return _record(path, env, settings, source, observations, lambda obs, _: policy.act(obs), episodes)
    finally:
        env.close()


def _make_env(env_id: str, env_config: dict, num_envs: int):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_config).unwrapped


def _record(
    path: str | Path, env, env_config: dict, source: DatasetSource, observations: dict, act: Act, episodes: int,
) -> DatasetSummary:
    """Step the env from its reset `observations` until the writer holds `episodes` whole episodes."""
    info = DatasetInfo.of(env.interface, env_config, source)
    with EpisodeWriter(path, info, episodes) as writer:
        writer.start(observations)
        ended = np.zeros(env.num_envs, dtype=bool)
        while not writer.complete:
            actions = act(observations, ended)
            observations, rewards, terminated, truncated, infos = env.advance(actions)
            ended = terminated | truncated
            success = np.array([bool(info) and episode_success(info["episode"]) for info in infos])
            writer.step(actions, observations, rewards, terminated, truncated, success)
    return writer.summary
