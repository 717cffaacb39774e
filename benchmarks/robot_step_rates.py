"""Environment steps/s of every robot against a bare `mujoco.mj_step` loop on the same scene at the same rates,
and the cost of rendering a camera observation.

    python -m benchmarks.robot_step_rates [--seconds 5] [--num-envs 16] [--robots spot franka_panda ...]
    python -m benchmarks.robot_step_rates --robots franka_panda xarm6 ur5e --action-type end_effector --control-hz 20

Per robot the environment is its default task (manipulators: reach; the quadruped: walking on flat
ground); the bare loop steps the same compiled scene, holding the home pose's PD targets, with
the same physics steps per control step and as many robot states as the batch (with --action-type
end_effector the environment also solves each arm's IK every control step). Ratios compare
the batched environment's per-robot rate with the bare loop's; runs alternate to share machine noise.
"""

from __future__ import annotations

import os

# Before mujoco is first imported (benchmarks.env_step_rate imports it ahead of envs, which sets the same).
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.env_step_rate import bare_loop, env_loop  # noqa: E402
from envs.manipulation.env import ManipulationVecEnv  # noqa: E402
from envs.quadruped.env import QuadrupedVecEnv  # noqa: E402
from vla_ray.embodiment import EMBODIMENTS  # noqa: E402

CAMERAS = {"single_arm": "wrist", "dual_arm": "overhead", "mobile_manipulator": "head", "quadruped": "head"}


def make_env(robot: str, num_envs: int, **extra):
    settings = {"embodiment": robot, "episode_length_s": 1e6, "reset_joint_noise_rad": 0.0, **extra}
    if EMBODIMENTS[robot].robot_type == "quadruped":
        return QuadrupedVecEnv(num_envs=num_envs, **settings)
    return ManipulationVecEnv(num_envs=num_envs, task="reach", **settings)


def render_ms(robot: str, size: tuple[int, int], frames: int = 200) -> float:
    env = make_env(robot, 1, camera=CAMERAS[EMBODIMENTS[robot].robot_type], camera_size=size)
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(frames):
        env._render(0, env.config.camera, size, observation=True)
    elapsed = (time.perf_counter() - start) / frames * 1e3
    env.close()
    return elapsed


def measure(robot: str, seconds: float, num_envs: int, **settings) -> dict:
    env = make_env(robot, num_envs, **settings)
    env.reset(seed=0)
    hold = env.commander.scaler.to_normalized(env.sim.positions()).astype(np.float32)
    qpos, ctrl = env.sim.keyframe("home")
    rates = {"bare_mj_step": [], "env_batched_per_robot": []}
    for _ in range(3):
        rates["bare_mj_step"].append(bare_loop(env.sim.model, qpos, ctrl, env.substeps, seconds, num_envs))
        rates["env_batched_per_robot"].append(env_loop(env, hold, seconds))
    best = {k: max(v) for k, v in rates.items()}
    env.close()
    return {
        "physics_hz": round(1.0 / env.physics_dt_s), "control_hz": round(1.0 / env.control_dt_s),
        "control_steps_per_s": {k: round(v) for k, v in best.items()},
        "ratio_env_vs_bare": round(best["env_batched_per_robot"] / best["bare_mj_step"], 3),
        "camera_ms_per_frame": {f"{h}x{w}": round(render_ms(robot, (h, w)), 2) for h, w in ((64, 64), (224, 224))},
    }


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0, help="per measurement; each is repeated 3 times")
    p.add_argument("--num-envs", type=int, default=16, help="robots in the batched environment")
    p.add_argument("--robots", nargs="*", default=[r for r in EMBODIMENTS if r != "humanoid"],
                   help="the humanoid has its own benchmark (benchmarks.env_step_rate)")
    p.add_argument("--action-type", choices=("joint_position", "end_effector"), default=None,
                   help="manipulators only; default: the preset's (joint positions)")
    p.add_argument("--control-hz", type=float, default=None, help="override the robots' control rate")
    args = p.parse_args()
    settings = {k: v for k, v in (("action_type", args.action_type), ("control_frequency_hz", args.control_hz)) if v}
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "num_envs": args.num_envs, **settings}
    for robot in args.robots:
        results[robot] = measure(robot, args.seconds, args.num_envs, **settings)
        print(robot, json.dumps(results[robot]), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
