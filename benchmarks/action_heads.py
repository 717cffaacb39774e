"""Each specialised action head against the Gaussian baseline on the robot it is for, at an equal env-step budget.

    RAY_worker_niceness=0 python benchmarks/action_heads.py --robots franka spot aloha humanoid --env-steps 300000

Per robot, every head trains with `experiments/train.py` (same flags, same seed, one after the other
on this machine), then its final checkpoint is evaluated deterministically on held-out seeds with
the seed's metrics. The budget is in control steps: a chunk policy (the humanoid's skills head, 5
control steps per action) gets a fifth as many of RLlib's env steps. Printed and written to --out as JSON: wall-clock, env steps, held-out success,
mean return and the task's error measure per head.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from vla_ray.checkpoints import PolicyCard
from vla_ray.evaluate import evaluate_policy
from vla_ray.models.skill_head import chunk_env_settings
from vla_ray.policy import Policy

REPO = Path(__file__).resolve().parents[1]
# Robot -> (environment, settings, heads compared with the Gaussian baseline).
SETUPS = {
    "franka": ("vla_ray/Manipulation-v0", {"embodiment": "franka_panda", "task": "reach"}, ("gmm", "deterministic")),
    "aloha": ("vla_ray/Manipulation-v0", {"embodiment": "aloha", "task": "transfer_cube"}, ("dual_arm",)),
    # Spot at one commanded speed (as the Spot walking benchmark); the clock is observed for every head alike.
    "spot": ("vla_ray/QuadrupedLocomotion-v0", {
        "command_vx_mps": [0.5, 0.5], "command_vy_mps": [0.0, 0.0], "command_yaw_rps": [0.0, 0.0],
        "episode_length_s": 10.0, "observe_gait_clock": True,
    }, ("cpg",)),
    "humanoid": ("vla_ray/HumanoidLocomotion-v0", {"task": "walk", "target_velocity_mps": 0.5}, ("skills",)),
}
FINAL = re.compile(r"final checkpoint (\S+) \(stage \S+, ([\d,]+) env steps, (\d+) s\)")


def train(env_id: str, env_config: dict, head: str, args, run_dir: Path) -> tuple[Path, int, int, float]:
    """The final checkpoint, RLlib's env steps, control steps and training seconds of one head's run."""
    model_config = {"action_head": head}
    if head == "skills":
        model_config["primitive_library"] = str(args.primitive_library)
    chunk = chunk_env_settings(model_config).get("action_chunk", 1)
    command = [
        sys.executable, str(REPO / "experiments/train.py"), "--env", env_id, "--env-config", json.dumps(env_config),
        "--model-config", json.dumps(model_config), "--env-steps", str(args.env_steps // chunk),
        "--time-budget-min", "600", "--env-runners", "1", "--envs-per-runner", "32", "--rollout-fragment", "64",
        "--minibatch-size", "512", "--num-epochs", "5", "--seed", str(args.seed), "--eval-episodes", "0",
        "--checkpoint-every", "1000", "--run-dir", str(run_dir), "--experiment", "benchmark-action-heads",
    ]
    output = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    match = FINAL.search(output)
    if match is None:
        raise RuntimeError(f"{head}: no final checkpoint in the training output:\n{output[-2000:]}")
    steps = int(match.group(2).replace(",", ""))
    return Path(match.group(1)), steps, steps * chunk, float(match.group(3))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--robots", nargs="+", choices=sorted(SETUPS), default=sorted(SETUPS))
    p.add_argument("--heads", nargs="+", default=None, help="only these of each robot's heads (the baseline always runs)")
    p.add_argument("--env-steps", type=int, default=300_000, help="training budget per head")
    p.add_argument("--episodes", type=int, default=50, help="held-out evaluation episodes per head")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--primitive-library", type=Path, default=REPO / "runs/primitives/humanoid.pt",
                   help="the skills head's library (python -m vla_ray.primitives.build)")
    p.add_argument("--runs", type=Path, default=REPO / "runs/benchmark_action_heads")
    p.add_argument("--out", type=Path, default=REPO / "runs/benchmark_action_heads/results.json")
    args = p.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for robot in args.robots:
        env_id, env_config, heads = SETUPS[robot]
        for head in ("gaussian", *(h for h in heads if args.heads is None or h in args.heads)):
            start = time.time()
            checkpoint, steps, control_steps, train_s = train(env_id, env_config, head, args,
                                                              args.runs / f"{robot}_{head}")
            report = evaluate_policy(Policy.from_checkpoint(checkpoint), PolicyCard.load(checkpoint).env_config,
                                     args.episodes, seed=1000)
            results[f"{robot}/{head}"] = {
                "env_steps": steps, "control_steps": control_steps, "train_s": train_s, "total_s": round(time.time() - start),
                "success_rate": report.success_rate, "mean_return": report.mean_return,
                "position_error_m": report.position_error_m,
                "velocity_tracking_error_mps": report.velocity_tracking_error_mps, "falls": report.falls,
                "date": time.strftime("%Y-%m-%d"),
            }
            print(json.dumps({f"{robot}/{head}": results[f"{robot}/{head}"]}), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
