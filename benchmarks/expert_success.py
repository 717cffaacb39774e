"""Scripted-expert success rates: every manipulation task on every robot it is built for, over many episodes.

    python -m benchmarks.expert_success [--episodes 100] [--num-envs 10] [--tasks reach pick_place ...]

Each robot's episodes run batched in one ManipulationVecEnv with fresh random placements
(seeded); success is the task's own criterion at the end of the episode, exactly as the
environment reports it to training and evaluation.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from envs.experts import expert_for
from envs.manipulation.env import ManipulationVecEnv
from envs.manipulation.tasks import TASKS
from vla_ray.embodiment import EMBODIMENTS


def run(robot: str, task: str, episodes: int, num_envs: int, seed: int, episode_length_s: float | None) -> dict:
    settings = {"embodiment": robot, "task": task}
    if episode_length_s:
        settings["episode_length_s"] = episode_length_s
    env = ManipulationVecEnv(num_envs=num_envs, **settings)
    expert = expert_for(env)
    env.reset(seed=seed)
    expert.reset()
    started = np.zeros(num_envs, dtype=bool)
    summaries, steps, start = [], 0, time.perf_counter()
    while len(summaries) < episodes:
        _, _, terminated, truncated, infos = env.advance(expert.act(started))
        started = terminated | truncated
        steps += num_envs
        summaries += [info["episode"] for info in infos if info]
    summaries = summaries[:episodes]
    env.close()
    done = [s["completion_time_s"] for s in summaries if s["success"]]
    return {
        "episodes": episodes,
        "success_rate": float(np.mean([s["success"] for s in summaries])),
        "position_error_m": float(np.mean([s.get("position_error_m", np.nan) for s in summaries])),
        "completion_time_s": float(np.mean(done)) if done else None,
        "wall_s": round(time.perf_counter() - start, 1),
        "env_steps": steps,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--num-envs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tasks", nargs="*", default=sorted(TASKS))
    p.add_argument("--robots", nargs="*", default=sorted(EMBODIMENTS))
    p.add_argument("--episode-length-s", type=float, default=None, help="default: each task's environment default")
    args = p.parse_args()
    results = {}
    for task in args.tasks:
        for robot in args.robots:
            if EMBODIMENTS[robot].robot_type not in TASKS[task].robot_types:
                continue
            try:
                expert_for_task = run(robot, task, args.episodes, args.num_envs, args.seed, args.episode_length_s)
            except ValueError as error:  # a task without a scripted expert for this robot is reported, not hidden
                expert_for_task = {"error": str(error)}
            results[f"{task}/{robot}"] = expert_for_task
            print(task, robot, json.dumps(expert_for_task), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
