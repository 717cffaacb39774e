"""MultiArmEnv: several single arms at their tables, one agent per robot, for cross-embodiment training.

One ManipulationVecEnv per arm model holds that arm's robots (batched as everywhere else); each robot
is an agent named "<embodiment>/<index>", so RLlib's policy mapping can send every robot of an arm to
that arm's module. All arms share the task and the abstract end-effector action
(vla_ray.control.end_effector), and, unless told otherwise, one control rate: the same action then means
the same hand motion on every arm and every episode has the same number of steps.

An agent whose episode ends drops out of the returned dicts until every agent's episode has ended
(RLlib's multi-agent episode contract); its vector env keeps stepping it with a hold action meanwhile,
and what that produces is discarded.
"""

from __future__ import annotations

import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from envs.manipulation.env import ManipulationVecEnv
from vla_ray.embodiment import get_embodiment

# The Franka's rate (the slowest of the three single arms): PD servos run in between at each arm's own physics rate.
SHARED_CONTROL_FREQUENCY_HZ = 20.0


def arm_settings(settings: dict) -> dict:
    """ManipulationEnvConfig settings for every arm of a shared policy: the end-effector action (the one action all
    arms share; a joint action is refused) at SHARED_CONTROL_FREQUENCY_HZ unless another rate is given."""
    if settings.get("action_type", "end_effector") != "end_effector":
        raise ValueError("MultiArmEnv: action_type must be 'end_effector', the one action every arm shares")
    return {"control_frequency_hz": SHARED_CONTROL_FREQUENCY_HZ, **settings, "action_type": "end_effector"}


def agent_embodiment(agent_id: str) -> str:
    """The embodiment (module id) of an agent "<embodiment>/<index>"."""
    return agent_id.rsplit("/", 1)[0]


class MultiArmEnv(MultiAgentEnv):
    """config: embodiments (single-arm preset names), robots_per_embodiment (default 8), and any
    ManipulationEnvConfig setting for all arms (task, episode_length_s, randomization, ...)."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        settings = dict(config or {})
        names = list(settings.pop("embodiments", ()))
        robots = settings.pop("robots_per_embodiment", 8)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"MultiArmEnv.embodiments={names!r}: expected one or more distinct arm presets")
        for name in names:
            if get_embodiment(name).robot_type != "single_arm":
                raise ValueError(f"MultiArmEnv.embodiments: {name!r} is not a single arm")
        if not isinstance(robots, int) or isinstance(robots, bool) or robots < 1:
            raise ValueError(f"MultiArmEnv.robots_per_embodiment={robots!r}: expected an integer >= 1")
        settings = arm_settings(settings)
        self.arms = {name: ManipulationVecEnv(num_envs=robots, embodiment=name, **settings) for name in names}
        self.agents = self.possible_agents = [f"{name}/{i}" for name in names for i in range(robots)]
        self.observation_spaces = {a: self.arms[agent_embodiment(a)].single_observation_space for a in self.agents}
        self.action_spaces = {a: self.arms[agent_embodiment(a)].single_action_space for a in self.agents}
        self._robots = robots
        self._hold = {name: env.commander.scaler.to_normalized(np.ones(env.embodiment.command_dim))
                      for name, env in self.arms.items()}
        self._done: set[str] = set()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs = {}
        for k, (name, env) in enumerate(self.arms.items()):
            # Arms get disjoint seed ranges, so no two robots replay the same episode.
            batch, _ = env.reset(seed=None if seed is None else seed + k * self._robots)
            obs.update(self._split(name, batch))
        self._done = set()
        return obs, {}

    def step(self, action_dict: dict):
        obs, rewards, terminated, truncated, infos = {}, {}, {}, {}, {}
        for name, env in self.arms.items():
            actions = np.array([action_dict.get(f"{name}/{i}", self._hold[name]) for i in range(self._robots)])
            batch, reward, term, trunc, robot_infos = env.advance(actions)
            for i, (agent, parts) in enumerate(self._split(name, batch).items()):
                if agent in self._done:
                    continue
                obs[agent], rewards[agent] = parts, float(reward[i])
                terminated[agent], truncated[agent] = bool(term[i]), bool(trunc[i])
                if robot_infos[i]:
                    infos[agent] = robot_infos[i]
                if term[i] or trunc[i]:
                    self._done.add(agent)
        everyone = len(self._done) == len(self.agents)
        terminated["__all__"] = everyone and not any(truncated.values())
        truncated["__all__"] = everyone and not terminated["__all__"]
        if truncated["__all__"]:
            # RLlib 2.60's MultiAgentEpisode declares an episode terminated once every agent has a done flag of its
            # own, even when each was truncated, and then bootstraps no value at the time limit: the value targets
            # of every robot's last steps dropped to zero. Robots cut off by the time limit now are reported by
            # "__all__" alone, which RLlib applies to each of them as a truncation.
            truncated = {agent: flag for agent, flag in truncated.items() if not flag or agent == "__all__"}
        return obs, rewards, terminated, truncated, infos

    def _split(self, name: str, batch: dict) -> dict[str, dict]:
        return {f"{name}/{i}": {part: value[i] for part, value in batch.items()} for i in range(self._robots)}

    def close(self):
        for env in self.arms.values():
            env.close()
