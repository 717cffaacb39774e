"""The scripted single-arm experts on real MuJoCo physics: every task on every single arm, start to success."""

import numpy as np
import pytest

from envs.experts import expert_for
from envs.manipulation.env import ManipulationVecEnv

ARMS = ("franka_panda", "xarm6", "ur5e")
TASKS = ("reach", "pick_place", "stack", "peg_insertion")
EPISODES = 5
# Reach is over within ~3 s on every arm; the other tasks take the default 10 s episode.
EPISODE_LENGTH_S = {"reach": 5.0}


def _run_episodes(env: ManipulationVecEnv, episodes: int) -> list[dict]:
    """Episode summaries of the expert acting in `env`, `episodes` per robot, in order of ending."""
    expert = expert_for(env)
    env.reset(seed=0)
    expert.reset()
    ended = np.zeros(env.num_envs, dtype=bool)
    summaries = []
    while len(summaries) < episodes * env.num_envs:
        _, _, terminated, truncated, infos = env.advance(expert.act(ended))
        ended = terminated | truncated
        summaries += [info["episode"] for info in infos if info]
    return summaries


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("robot", ARMS)
def test_expert_succeeds_in_at_least_four_of_five_episodes(robot, task):
    env = ManipulationVecEnv(num_envs=EPISODES, embodiment=robot, task=task,
                             episode_length_s=EPISODE_LENGTH_S.get(task, 10.0))
    summaries = _run_episodes(env, episodes=1)
    env.close()
    assert sum(s["success"] for s in summaries) >= 4, [s.get("position_error_m") for s in summaries]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("robot", ARMS)
def test_an_episode_does_not_start_as_a_success(robot, task):
    env = ManipulationVecEnv(num_envs=4, embodiment=robot, task=task)
    env.reset(seed=0)
    hold = env.commander.scaler.to_normalized(env.sim.positions())
    assert not env.success(env._state).any()
    env.step(hold)
    assert not env._last_success.any()
    env.close()


def test_expert_starts_a_fresh_plan_for_each_autoreset_episode():
    # Planning the next episode from the last one's final state (the cube where it was put down) fails it.
    env = ManipulationVecEnv(num_envs=2, embodiment="franka_panda", task="pick_place")
    summaries = _run_episodes(env, episodes=3)
    env.close()
    assert all(s["success"] for s in summaries[2:]), [s["position_error_m"] for s in summaries]
