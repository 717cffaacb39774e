"""PPO with the VLA module on any vla-ray environment: robot, task and world chosen by flags, tracked in MLflow.

    python experiments/train.py --env vla_ray/Manipulation-v0 --env-config '{"embodiment": "franka_panda", "task": "reach"}'
    python experiments/train.py --env vla_ray/QuadrupedLocomotion-v0 --env-config '{"terrain": {}}' --time-budget-min 60
    RAY_AUTH_MODE=token ray job submit --working-dir . -- python experiments/train.py --env ...

Every iteration prints one line (env steps, steps/s, return, success rate, the task's error
measure); checkpoints go to --run-dir every --checkpoint-every iterations and at the end,
where the policy is evaluated with the seed's metrics and a video. The humanoid's staged
curriculum has its own script (experiments/humanoid_curriculum.py).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import ray

import envs
from vla_ray.checkpoints import PolicyCard, restore_checkpoint, save_checkpoint
from vla_ray.episode_metrics import EPISODE_KEY, EpisodeMetricsCallback
from vla_ray.evaluate import evaluate_policy
from vla_ray.policy import Policy
from vla_ray.tracking import TrainingRun, default_tracking_uri
from vla_ray.training import PPOTrainingConfig, build_ppo_config

ERROR_MEASURES = ("position_error_m", "velocity_tracking_error_mps")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", required=True, choices=sorted(envs.ENVIRONMENTS), help="registered environment id")
    p.add_argument("--env-config", type=json.loads, default={}, help="environment settings as JSON")
    p.add_argument("--time-budget-min", type=float, default=15.0, help="wall-clock training budget (minutes)")
    p.add_argument("--env-steps", type=int, default=None, help="stop after this many environment steps")
    p.add_argument("--target-success", type=float, default=None, help="stop once the windowed success rate reaches it")
    p.add_argument("--env-runners", type=int, default=2, help="EnvRunner actors (0: sample in this process)")
    p.add_argument("--envs-per-runner", type=int, default=16, help="robots simulated per EnvRunner (batched)")
    p.add_argument("--rollout-fragment", type=int, default=64, help="steps per environment per iteration")
    p.add_argument("--minibatch-size", type=int, default=PPOTrainingConfig.minibatch_size)
    p.add_argument("--num-epochs", type=int, default=PPOTrainingConfig.num_epochs, help="PPO passes over each batch")
    p.add_argument("--lr", type=float, default=PPOTrainingConfig.lr)
    p.add_argument("--model-config", type=json.loads, default={}, help="VLA module options as JSON")
    p.add_argument("--checkpoint-every", type=int, default=20, help="iterations between checkpoints")
    p.add_argument("--run-dir", type=Path, default=Path("runs/train"), help="checkpoints go here")
    p.add_argument("--mlflow-uri", default=None, help="default: a SQLite store in --run-dir/..")
    p.add_argument("--experiment", default="train", help="MLflow experiment name")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint or run directory to continue from")
    p.add_argument("--eval-episodes", type=int, default=10, help="episodes of the final evaluation (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.time_budget_min <= 0:
        p.error(f"--time-budget-min={args.time_budget_min}: expected > 0")
    # Fail on a bad setting here, before Ray starts: the same validation the environment applies.
    envs.policy_interface(args.env, args.env_config)
    return args


def progress_line(iteration: int, steps: int, rate: float, result: dict) -> str:
    runners = result.get("env_runners", {})
    episode = runners.get(EPISODE_KEY, {})
    measures = " ".join(f"{name} {episode[name]:.3f}" for name in ERROR_MEASURES if name in episode)
    return (
        f"it {iteration:4d} | steps {steps:>10,} | {rate:6.0f} steps/s"
        f" | return {runners.get('episode_return_mean', float('nan')):7.2f}"
        f" | success {episode.get('success', float('nan')):.2f} | {measures}"
    )


def main(argv=None):
    args = parse_args(argv)
    embodiment = envs.policy_interface(args.env, args.env_config).embodiment.robot_name
    training = PPOTrainingConfig(
        num_env_runners=args.env_runners,
        num_envs_per_env_runner=args.envs_per_runner,
        rollout_fragment_length=args.rollout_fragment,
        minibatch_size=args.minibatch_size,
        num_epochs=args.num_epochs,
        lr=args.lr,
        seed=args.seed,
        model_config={"embodiment": embodiment, **args.model_config},
    )
    config = build_ppo_config(training, args.env, args.env_config, EpisodeMetricsCallback)
    # Under `ray job submit` RAY_ADDRESS names the cluster; otherwise start Ray in this process.
    ray.init(address=os.environ.get("RAY_ADDRESS") or "local")
    algo = config.build_algo()
    if args.resume:
        print(f"resumed from {restore_checkpoint(algo, args.resume)} at iteration {algo.iteration}")
    tracking_uri = args.mlflow_uri or default_tracking_uri(args.run_dir.parent)

    def card(steps: int) -> PolicyCard:
        return PolicyCard(
            env_id=args.env, env_config=dict(algo.config.env_config), model_config=training.model_config,
            embodiment=embodiment, stage="final", training_iteration=algo.iteration, env_steps=steps,
        )

    run_name = f"{args.run_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with TrainingRun(tracking_uri, args.experiment, run_name, args.run_dir.parent / "mlartifacts") as run:
        run.log_params({"env": args.env, "env_config": args.env_config, "training": training.__dict__,
                        "budget_min": args.time_budget_min, "resume": str(args.resume or "")})
        print(f"MLflow run {run.run_id} at {tracking_uri}")
        start = last_time = time.time()
        last_steps = steps = 0
        while True:
            result = algo.train()
            steps = int(result.get("num_env_steps_sampled_lifetime", 0))
            now = time.time()
            rate = (steps - last_steps) / max(now - last_time, 1e-9)
            last_time, last_steps = now, steps
            print(progress_line(algo.iteration, steps, rate, result), flush=True)
            runners = result.get("env_runners", {})
            episode = runners.get(EPISODE_KEY, {})
            run.log_metrics({"env_steps": steps, "steps_per_s": rate, "wall_s": now - start,
                             "episode_return_mean": runners.get("episode_return_mean", float("nan")),
                             "episode": episode, "reward_terms": runners.get("reward_terms", {})}, step=algo.iteration)
            if algo.iteration % args.checkpoint_every == 0:
                save_checkpoint(algo, args.run_dir, f"iter{algo.iteration}", card(steps))
            reached = args.target_success is not None and episode.get("success", 0.0) >= args.target_success
            if reached or now - start >= args.time_budget_min * 60 or (args.env_steps and steps >= args.env_steps):
                break
        final = save_checkpoint(algo, args.run_dir, f"final_iter{algo.iteration}", card(steps))
        run.set_tag("checkpoint/final", str(final.resolve()))
        algo.stop()
        print(f"final checkpoint {final} ({steps:,} env steps, {time.time() - start:.0f} s)")
        if args.eval_episodes > 0:
            video = final / "evaluation.mp4"
            report = evaluate_policy(Policy.from_checkpoint(final), PolicyCard.load(final).env_config,
                                     args.eval_episodes, video_path=str(video))
            run.log_metrics({"eval": report.to_dict()}, step=algo.iteration)
            run.log_artifact(video, "evaluation")
            print(f"evaluation: {json.dumps(report.to_dict())}")
    print(f"\nEvaluate again: python -m vla_ray.evaluate --checkpoint {args.run_dir} --episodes 20\n"
          f"Serve: python -m serve --policy {embodiment}={args.run_dir}\n"
          f"Browse the run: mlflow ui --backend-store-uri {tracking_uri}")


if __name__ == "__main__":
    main()
