"""Training sampler throughput (the sampling phase of PPO, both cores) against 2x the single-env rate.

    python -m benchmarks.sampler_throughput [--rounds 5]
    python -m benchmarks.sampler_throughput --env vla_ray/QuadrupedLocomotion-v0 --env-config '{}'

Baselines measured in the same run: one `gym.make` environment stepping alone in a loop (the
"single-env rate"), and one batched environment per core without RLlib (the physics-bound
ceiling of a core). The sampler is the training configuration's: 2 EnvRunners x 32 robots,
the VLA module choosing every action. Each EnvRunner's memory (USS: memory only it holds, and RSS)
is read at the end, the robots, the module and the instruction encoder loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import gymnasium as gym
import numpy as np
import psutil
import ray

import envs
from benchmarks.env_step_rate import env_loop
from vla_ray.episode_metrics import EpisodeMetricsCallback
from vla_ray.training import PPOTrainingConfig, build_ppo_config


def timed_sample(runner):
    start = time.perf_counter()
    episodes = runner.sample(num_timesteps=runner.config.num_envs_per_env_runner * runner.config.rollout_fragment_length)
    return sum(len(e) for e in episodes), time.perf_counter() - start


def runner_memory_mb(runner) -> dict:
    info = psutil.Process().memory_full_info()
    return {"uss_mb": round(info.uss / 2**20), "rss_mb": round(info.rss / 2**20)}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--envs-per-runner", type=int, default=32)
    p.add_argument("--fragment", type=int, default=128)
    p.add_argument("--env", default=envs.HUMANOID_LOCOMOTION_ID, choices=sorted(envs.ENVIRONMENTS))
    p.add_argument("--env-config", type=json.loads, default={"task": "stand"}, help="environment settings as JSON")
    args = p.parse_args()
    env_id = f"envs:{args.env}"
    single = gym.make(env_id, **args.env_config)
    single.reset(seed=0)
    vec = gym.make_vec(env_id, num_envs=args.envs_per_runner, vectorization_mode="vector_entry_point", **args.env_config)
    vec.reset(seed=0)
    action_dim = single.action_space.shape[0]
    rng = np.random.default_rng(0)
    single_rate = env_loop(single, rng.normal(0, 0.1, action_dim).astype(np.float32), 10.0)
    batched_rate = env_loop(vec, rng.normal(0, 0.1, (args.envs_per_runner, action_dim)).astype(np.float32), 10.0)
    embodiment = envs.policy_interface(args.env, args.env_config).embodiment.robot_name

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    training = PPOTrainingConfig(num_env_runners=2, num_envs_per_env_runner=args.envs_per_runner,
                                 rollout_fragment_length=args.fragment, model_config={"embodiment": embodiment})
    algo = build_ppo_config(training, args.env, args.env_config, EpisodeMetricsCallback).build_algo()
    rates = []
    for i in range(args.rounds + 1):
        start = time.perf_counter()
        out = algo.env_runner_group.foreach_env_runner(timed_sample, local_env_runner=False)
        wall = time.perf_counter() - start
        if i:  # the first round loads the language model in each runner
            rates.append(sum(steps for steps, _ in out) / wall)
    memory = algo.env_runner_group.foreach_env_runner(runner_memory_mb, local_env_runner=False)
    algo.stop()
    sampler = float(np.median(rates))
    print(json.dumps({
        "env": args.env, "env_config": args.env_config,
        "cores": os.cpu_count(),
        "single_env_steps_per_s": round(single_rate),
        "batched_env_steps_per_s_one_core": round(batched_rate),
        "sampler_steps_per_s_median": round(sampler),
        "sampler_rounds": [round(r) for r in rates],
        "ratio_vs_2x_single_env": round(sampler / (2 * single_rate), 3),
        "ratio_vs_2x_batched_env": round(sampler / (2 * batched_rate), 3),
        "env_runner_memory": memory,
    }, indent=2))


if __name__ == "__main__":
    main()
