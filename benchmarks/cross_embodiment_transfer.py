"""Cross-embodiment transfer: train one policy on two arms, then measure it on a third arm it has never seen.

    RAY_worker_niceness=0 python benchmarks/cross_embodiment_transfer.py --train-arms franka_panda xarm6 \
        --target ur5e --task reach --env-steps 400000 --finetune-steps 80000 --scratch-full
    python benchmarks/cross_embodiment_transfer.py --target ur5e --finetune-steps 20000 \
        --shared-policy runs/benchmark_cross_embodiment/shared/shared_policy.pt --out runs/benchmark_ce_20k

1. Train the shared policy with per-arm adapters on --train-arms (experiments/train_multi_arm.py's loop).
2. Zero-shot: the target arm gets the trained shared part and a fresh (zero) adapter; evaluated as is, next to
   an untrained module of the same architecture. (--shared-policy: phase 1 comes from an earlier run.)
3. Fine-tune: that module trains on the target arm alone for --finetune-steps.
4. Scratch: the same architecture trains on the target arm alone from random weights for --finetune-steps
   (and, with --scratch-full, also for --env-steps, the budget the shared policy had).
Every evaluation: --episodes held-out episodes, deterministic actions, success rate (the task's criterion at the
episode's end), mean return, final position error. Printed and written to --out as JSON with wall-clock times.

    python benchmarks/cross_embodiment_transfer.py --reference-only

The reference (always run first, reach only): one proportional controller written in the abstract action,
a = clip(5 (goal - hand), -1, 1) on the position channels, on every arm: what the action itself allows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import ray

from envs.manipulation.env import ManipulationVecEnv
from envs.manipulation.multi_arm import arm_settings
from vla_ray.models.cross_embodiment import ArmAdapterModule
from vla_ray.multi_arm import MultiArmSetup, evaluate_arm, iteration_line, train_multi_arm
from vla_ray.training import PPOTrainingConfig

REPO = Path(__file__).resolve().parents[1]


def reference_controller(arm: str, env_settings: dict, episodes: int, seed: int) -> dict:
    env = ManipulationVecEnv(num_envs=episodes, embodiment=arm, **env_settings)
    try:
        obs, _ = env.reset(seed=seed)
        action = np.zeros((episodes, env.embodiment.action_dim))
        action[:, 6:] = 1.0  # gripper open
        returns, infos = np.zeros(episodes), [{}]
        while not infos[0]:  # every episode has the same length: all end together
            action[:, :3] = np.clip(5.0 * (obs["goal_pos"] - obs["ee_pos"]), -1.0, 1.0)
            obs, reward, _, _, infos = env.advance(action)
            returns += reward
        summaries = [info["episode"] for info in infos]
        return {"success_rate": float(np.mean([s["success"] for s in summaries])), "mean_return": float(returns.mean()),
                "final_error_m": float(np.mean([s["position_error_m"] for s in summaries]))}
    finally:
        env.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-arms", nargs="+", default=["franka_panda", "xarm6"])
    p.add_argument("--target", default="ur5e")
    p.add_argument("--task", default="reach")
    p.add_argument("--reward-weights", type=json.loads, default={"approach_goal": 1.0},
                   help="per-term overrides for every arm (default: reach's pull from afar, see BENCHMARKS.md)")
    p.add_argument("--env-steps", type=int, default=400_000, help="robot steps for the shared policy (all arms)")
    p.add_argument("--finetune-steps", type=int, default=80_000, help="robot steps on the target arm")
    p.add_argument("--scratch-full", action="store_true", help="also train the target from scratch for --env-steps")
    p.add_argument("--shared-policy", type=Path, default=None,
                   help="a shared_policy.pt from an earlier run's phase 1: skip training it (other fine-tune budgets)")
    p.add_argument("--robots-per-arm", type=int, default=16)
    p.add_argument("--minibatch-size", type=int, default=256, help="robot steps per PPO update, all arms together")
    p.add_argument("--num-epochs", type=int, default=10)
    p.add_argument("--reference-only", action="store_true", help="only the proportional controller on every arm")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=REPO / "runs/benchmark_cross_embodiment")
    args = p.parse_args(argv)
    env_config = {"task": args.task, "reward_weights": args.reward_weights}
    results: dict = {"command": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    eval_seed = 10_000 + args.seed

    def train(name: str, arms: tuple[str, ...], steps: int, shared: str | None = None):
        setup = MultiArmSetup(arms, env_config, args.robots_per_arm, shared)
        training = PPOTrainingConfig(num_env_runners=1, num_envs_per_env_runner=setup.robots, rollout_fragment_length=64,
                                     minibatch_size=args.minibatch_size, num_epochs=args.num_epochs, seed=args.seed)
        print(f"== {name}: {'+'.join(arms)} for {steps:,} robot steps", flush=True)
        run = train_multi_arm(setup, training, steps, args.out / name,
                              lambda result, s: print(iteration_line(result, setup, s), flush=True))
        evaluations = {arm: evaluate_arm(module, arm, setup.env_settings(), args.episodes, eval_seed).as_dict()
                       for arm, module in run.modules.items()}
        results[name] = {"env_steps": run.env_steps, "train_s": round(run.seconds, 1), "eval": evaluations}
        print(json.dumps(results[name], indent=2), flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
        return run

    if args.task == "reach":
        results["reference"] = {arm: reference_controller(arm, arm_settings(env_config), args.episodes, eval_seed)
                                for arm in (*args.train_arms, args.target)}
        print(json.dumps(results["reference"], indent=2), flush=True)
    if args.reference_only:
        return
    ray.init(address="local", ignore_reinit_error=True)
    if args.shared_policy is None:
        shared_path = str(train("shared", tuple(args.train_arms), args.env_steps).shared_path)
    else:
        shared_path = str(args.shared_policy.resolve())
        results["shared"] = {"from": shared_path}
    target_settings = arm_settings(env_config)  # what every arm of a MultiArmSetup runs with
    probe = ManipulationVecEnv(num_envs=1, embodiment=args.target, **target_settings)
    spaces = {"observation_space": probe.single_observation_space, "action_space": probe.single_action_space}
    probe.close()
    # Zero-shot next to an untrained module of the same architecture: what the shared part alone brings.
    for name, checkpoint in (("untrained", {}), ("zero_shot", {"shared_checkpoint": shared_path})):
        target = ArmAdapterModule(**spaces, model_config={"embodiment": args.target, **checkpoint})
        start = time.time()
        results[name] = {"eval": {args.target: evaluate_arm(target, args.target, target_settings, args.episodes,
                                                            eval_seed).as_dict()},
                         "eval_s": round(time.time() - start, 1)}
        print(name, json.dumps(results[name], indent=2), flush=True)
    train("finetune", (args.target,), args.finetune_steps, shared_path)
    train("scratch", (args.target,), args.finetune_steps)
    if args.scratch_full:
        train("scratch_full", (args.target,), args.env_steps)
    print(f"results: {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
