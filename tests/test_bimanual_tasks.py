"""The dual-arm tasks and their scripted experts on real MuJoCo physics: success only once the job is done, the
shaping rising while the expert works, and the expert solving the task."""

from dataclasses import dataclass

import numpy as np
import pytest

from envs.experts.bimanual import BimanualExpert
from envs.manipulation.env import ManipulationVecEnv
from envs.manipulation.rewards import REWARD_TERMS
from envs.manipulation.tasks import bimanual_insertion, bimanual_lift, transfer_cube

EPISODES = 5
# task: (robot, episode length, a shaping term the expert's progress must raise)
CASES = {
    "transfer_cube": ("aloha", transfer_cube.EPISODE_LENGTH_S, "object_goal"),  # cube toward the handover point
    "bimanual_insertion": ("aloha", bimanual_insertion.EPISODE_LENGTH_S, "object_goal"),  # peg toward the socket
    "bimanual_lift": ("baxter", bimanual_lift.EPISODE_LENGTH_S, "object_goal_fine"),  # box toward its raised goal
}


@dataclass(frozen=True)
class Rollout:
    shaping_term: str
    success_at_start: np.ndarray  # (EPISODES,) the task's criterion on each episode's first state
    shaping_at_start: np.ndarray  # (EPISODES,)
    shaping_at_end: np.ndarray  # (EPISODES,) on the last state, before the autoreset
    summaries: list[dict]


@pytest.fixture(scope="module", params=sorted(CASES))
def rollout(request) -> Rollout:
    """One episode per robot of a batch of EPISODES, each with its own random placement, the expert acting."""
    task = request.param
    robot, episode_length_s, term = CASES[task]
    env = ManipulationVecEnv(num_envs=EPISODES, embodiment=robot, task=task, episode_length_s=episode_length_s)
    expert = BimanualExpert(env)
    env.reset(seed=7)
    expert.reset()
    start = env._state
    success_at_start, shaping_at_start = env.task.success(start), REWARD_TERMS[term](start)
    summaries = []
    while not summaries:  # the robots' episodes all run to the same time limit
        _, _, _, _, infos = env.advance(expert.act())
        summaries = [info["episode"] for info in infos if info]
    end = REWARD_TERMS[term](env._state)
    env.close()
    return Rollout(term, success_at_start, shaping_at_start, end, summaries)


def test_expert_succeeds_in_at_least_4_of_5_episodes(rollout):
    assert len(rollout.summaries) == EPISODES
    successes = [s["success"] for s in rollout.summaries]
    assert sum(successes) >= 4, rollout.summaries


def test_success_is_false_when_the_episode_starts(rollout):
    assert not rollout.success_at_start.any()


def test_shaping_term_rises_as_the_expert_works(rollout):
    assert rollout.shaping_at_end.mean() > rollout.shaping_at_start.mean() + 0.15, rollout.shaping_term
    assert all(s["reward_terms"][rollout.shaping_term] > 0 for s in rollout.summaries)


@pytest.mark.parametrize("task", sorted(CASES))
def test_dual_arm_tasks_refuse_a_single_arm_robot(task):
    with pytest.raises(ValueError, match="embodiment.*dual_arm"):
        ManipulationVecEnv(num_envs=1, embodiment="franka_panda", task=task)


def test_bimanual_expert_refuses_a_task_it_has_no_plan_for():
    env = ManipulationVecEnv(num_envs=1, embodiment="aloha", task="reach")
    with pytest.raises(ValueError, match="no plan for task 'reach'"):
        BimanualExpert(env)
    env.close()
