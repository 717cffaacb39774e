"""Humanoid environment steps/s against a bare `mujoco.mj_step` loop on the same model at the same physics rate.

    python -m benchmarks.env_step_rate [--seconds 10] [--num-envs 32]

Both hold the nominal standing pose (the environment with zero actions, the bare loop with the
nominal PD targets), so they simulate the same contacts. Runs alternate to share machine noise.
The bare loop runs twice: on one robot state (hot in the CPU cache) and cycling through as many
states as the batched environment holds (the same physics work and memory footprint).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import mujoco
import numpy as np

from envs.humanoid.env import HumanoidLocomotionEnv, HumanoidLocomotionVecEnv


def bare_loop(model, nominal_qpos, ctrl, substeps, seconds, num_datas=1) -> float:
    """Control steps/s (per robot) of a plain Python loop: set ctrl, call mj_step once per physics step,
    cycling through `num_datas` robot states (1: one state that stays in the CPU cache)."""
    datas = [mujoco.MjData(model) for _ in range(num_datas)]
    for data in datas:
        data.qpos[:] = nominal_qpos
        data.ctrl[:] = ctrl
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(max(1, 100 // num_datas)):
            for data in datas:
                data.ctrl[:] = ctrl
                for _ in range(substeps):
                    mujoco.mj_step(model, data)
        steps += max(1, 100 // num_datas) * num_datas
    return steps / (time.perf_counter() - start)


def env_loop(env, actions, seconds) -> float:
    steps, start = 0, time.perf_counter()
    batch = actions.shape[0] if actions.ndim == 2 else 1
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            _, _, terminated, truncated, _ = env.step(actions)
            if batch == 1 and (terminated or truncated):
                env.reset()
        steps += 100 * batch
    return steps / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=10.0, help="per measurement; each is repeated 3 times")
    p.add_argument("--num-envs", type=int, default=32, help="robots in the batched environment")
    args = p.parse_args()
    single = HumanoidLocomotionEnv(task="stand", episode_length_s=1e6, reset_joint_noise_rad=0.0)
    single.reset(seed=0)
    vec = HumanoidLocomotionVecEnv(num_envs=args.num_envs, task="stand", episode_length_s=1e6, reset_joint_noise_rad=0.0)
    vec.reset(seed=0)
    robots = vec.robots
    ctrl = np.zeros(robots.model.nu)
    ctrl[robots.actuator_index] = robots.nominal_qpos[robots.qpos_index]
    rates = {"bare_mj_step": [], "bare_mj_step_batch_of_states": [], "env_single": [], "env_batched_per_robot": []}
    for _ in range(3):
        rates["bare_mj_step"].append(bare_loop(robots.model, robots.nominal_qpos, ctrl, vec.pd_substeps, args.seconds))
        rates["bare_mj_step_batch_of_states"].append(
            bare_loop(robots.model, robots.nominal_qpos, ctrl, vec.pd_substeps, args.seconds, args.num_envs)
        )
        rates["env_single"].append(env_loop(single, np.zeros(32, np.float32), args.seconds))
        rates["env_batched_per_robot"].append(env_loop(vec, np.zeros((args.num_envs, 32), np.float32), args.seconds))
    best = {k: max(v) for k, v in rates.items()}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "physics_hz": round(1.0 / robots.model.opt.timestep), "control_hz": round(1.0 / vec.control_dt_s),
        "control_steps_per_s": {k: round(v) for k, v in best.items()},
        "ratio_single_vs_bare": round(best["env_single"] / best["bare_mj_step"], 3),
        "ratio_batched_vs_bare": round(best["env_batched_per_robot"] / best["bare_mj_step"], 3),
        # the same number of robot states as the batch: the physics work without the environment around it
        "ratio_batched_vs_bare_batch_of_states": round(
            best["env_batched_per_robot"] / best["bare_mj_step_batch_of_states"], 3
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
