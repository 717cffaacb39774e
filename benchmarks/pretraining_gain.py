"""Proprioception pretraining's gain: PPO from pretrained encoders vs from scratch, env steps to a fixed return.

    python -m vla_ray.pretraining --dataset runs/demos/franka_reach.parquet --out runs/pretrained/franka_reach.pt
    RAY_worker_niceness=0 python benchmarks/pretraining_gain.py --encoder runs/pretrained/franka_reach.pt --env-steps 300000

Both runs use `experiments/train.py` with the same flags and seed, one after the other; every
iteration's training return (RLlib's episode_return_mean) is read from the progress lines, and the
first env-step count at which it reaches each --returns threshold is reported with the final return.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROGRESS = re.compile(r"^it +\d+ \| steps +([\d,]+) \|.*\| return +(-?[\d.]+|nan) \|", re.MULTILINE)


def returns_curve(env_id: str, env_config: dict, model_config: dict, args, run_dir: Path) -> tuple[list, float]:
    command = [
        sys.executable, str(REPO / "experiments/train.py"), "--env", env_id, "--env-config", json.dumps(env_config),
        "--model-config", json.dumps(model_config), "--env-steps", str(args.env_steps), "--time-budget-min", "600",
        "--env-runners", "1", "--envs-per-runner", "32", "--rollout-fragment", "64", "--minibatch-size", "512",
        "--num-epochs", "5", "--seed", str(args.seed), "--eval-episodes", "0", "--checkpoint-every", "1000",
        "--run-dir", str(run_dir), "--experiment", "benchmark-pretraining",
    ]
    start = time.time()
    output = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    curve = [(int(steps.replace(",", "")), float(ret)) for steps, ret in PROGRESS.findall(output)]
    return curve, time.time() - start


def first_reaching(curve: list, threshold: float) -> int | None:
    return next((steps for steps, ret in curve if ret >= threshold), None)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", type=Path, required=True, help="pretrained encoder (python -m vla_ray.pretraining)")
    p.add_argument("--env", default="vla_ray/Manipulation-v0")
    p.add_argument("--env-config", type=json.loads, default={"embodiment": "franka_panda", "task": "reach"})
    p.add_argument("--env-steps", type=int, default=300_000)
    p.add_argument("--returns", type=float, nargs="+", default=[0.0, 5.0, 10.0], help="return thresholds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=REPO / "runs/benchmark_pretraining/results.json")
    args = p.parse_args(argv)
    results = {}
    for name, model_config in (("scratch", {}), ("pretrained", {"pretrained_encoder": str(args.encoder.resolve())})):
        curve, seconds = returns_curve(args.env, args.env_config, model_config, args, args.out.parent / name)
        results[name] = {
            "wall_s": round(seconds), "env_steps": curve[-1][0] if curve else 0,
            "final_return": curve[-1][1] if curve else None,
            "steps_to_return": {str(t): first_reaching(curve, t) for t in args.returns},
            "date": time.strftime("%Y-%m-%d"),
        }
        print(json.dumps({name: results[name]}), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
