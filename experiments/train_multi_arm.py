"""One policy for several single arms at once: cross-embodiment PPO with a shared policy and per-arm adapters.

    python experiments/train_multi_arm.py --arms franka_panda xarm6 --task reach --env-steps 400000
    python experiments/train_multi_arm.py --arms ur5e --shared-checkpoint runs/multi_arm/shared_policy.pt ...
    RAY_AUTH_MODE=token ray job submit --working-dir . -- python experiments/train_multi_arm.py --arms ...

Every robot acts through the abstract end-effector action (vla_ray.control.end_effector) at one control rate;
each arm's robots go to that arm's module (vla_ray.models.cross_embodiment). At the end each arm is evaluated
deterministically on held-out seeds; parameters, per-iteration returns and the evaluation go to MLflow, the
shared part to --out/shared_policy.pt (start a new arm from it with --shared-checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import ray

from envs.manipulation.tasks import TASKS
from vla_ray.embodiment import EMBODIMENTS
from vla_ray.multi_arm import (
    MultiArmSetup, arm_returns, evaluate_arm, iteration_line, robot_return, robot_steps, train_multi_arm,
)
from vla_ray.tracking import TrainingRun, default_tracking_uri
from vla_ray.training import PPOTrainingConfig

SINGLE_ARMS = sorted(name for name, cfg in EMBODIMENTS.items() if cfg.robot_type == "single_arm")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", nargs="+", choices=SINGLE_ARMS, required=True)
    p.add_argument("--task", choices=sorted(TASKS), default="reach")
    p.add_argument("--env-config", type=json.loads, default={}, help="further environment settings for every arm")
    p.add_argument("--robots-per-arm", type=int, default=16)
    p.add_argument("--env-steps", type=int, default=400_000, help="robot steps over all arms")
    p.add_argument("--env-runners", type=int, default=1)
    p.add_argument("--rollout-fragment", type=int, default=64)
    p.add_argument("--minibatch-size", type=int, default=256, help="robot steps per PPO update, all arms together")
    p.add_argument("--num-epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shared-checkpoint", default=None, help="start the shared policy from this file")
    p.add_argument("--eval-episodes", type=int, default=50, help="held-out episodes per arm")
    p.add_argument("--out", type=Path, default=Path("runs/multi_arm"))
    p.add_argument("--mlflow-uri", default=None, help="default: a SQLite store in --out/..")
    p.add_argument("--experiment", default="multi-arm")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    setup = MultiArmSetup(
        arms=tuple(args.arms), env_config={**args.env_config, "task": args.task}, robots_per_arm=args.robots_per_arm,
        shared_checkpoint=str(Path(args.shared_checkpoint).resolve()) if args.shared_checkpoint else None,
    )
    training = PPOTrainingConfig(
        num_env_runners=args.env_runners, num_envs_per_env_runner=setup.robots,
        rollout_fragment_length=args.rollout_fragment, minibatch_size=args.minibatch_size, num_epochs=args.num_epochs,
        lr=args.lr, seed=args.seed,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    tracking = args.mlflow_uri or default_tracking_uri(args.out.parent)
    # Under `ray job submit` RAY_ADDRESS names the cluster; otherwise Ray starts in this process.
    ray.init(address=os.environ.get("RAY_ADDRESS") or "local", ignore_reinit_error=True)
    with TrainingRun(tracking, args.experiment, "+".join(args.arms), args.out / "mlruns") as run:
        run.log_params({"setup": {**setup.multi_env_config(), "shared_checkpoint": setup.shared_checkpoint},
                        "training": training.__dict__, "env_steps": args.env_steps})

        def on_iteration(result: dict, seconds: float) -> None:
            print(iteration_line(result, setup, seconds), flush=True)
            run.log_metrics({"robot_return_mean": robot_return(result, setup), "robot_steps": robot_steps(result, setup),
                             "seconds": seconds, "return": arm_returns(result, setup)}, step=result["training_iteration"])

        result = train_multi_arm(setup, training, args.env_steps, args.out, on_iteration)
        report = {"env_steps": result.env_steps, "seconds": result.seconds, "shared_policy": str(result.shared_path)}
        if args.eval_episodes:
            for arm, module in result.modules.items():
                evaluation = evaluate_arm(module, arm, setup.env_settings(), args.eval_episodes, seed=10_000 + args.seed)
                report[arm] = evaluation.as_dict()
                run.log_metrics({f"eval/{arm}": evaluation.as_dict()}, step=0)
        (args.out / "report.json").write_text(json.dumps(report, indent=2))
        run.log_artifact(args.out / "report.json")
        print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
