"""Humanoid stand -> walk curriculum: PPO with the VLA module on Ray, tracked in MLflow.

    python experiments/humanoid_curriculum.py                      # Ray started in-process (~15 min)
    RAY_AUTH_MODE=token ray job submit --working-dir . -- python experiments/humanoid_curriculum.py

The curriculum (seed: humanoid guide, Stage 3) stands the robot under pushes, then walks
it at 0.3 -> 0.5 -> 0.8 -> 1.0 -> 1.5 m/s, promoting on measured survival and velocity
tracking. A checkpoint is written at every promotion and at the end; the final policy is
evaluated and its video logged to MLflow.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import ray

from envs import HUMANOID_LOCOMOTION_ID
from vla_ray.checkpoints import PolicyCard, restore_checkpoint, save_checkpoint
from vla_ray.curriculum import HUMANOID_CURRICULUM, METRICS_KEY, REWARD_TERMS_KEY, CurriculumCallback, curriculum_of
from vla_ray.evaluate import evaluate_policy
from vla_ray.policy import Policy
from vla_ray.tracking import TrainingRun, default_tracking_uri
from vla_ray.training import PPOTrainingConfig, build_ppo_config


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time-budget-min", type=float, default=14.0, help="wall-clock training budget (minutes)")
    p.add_argument("--env-steps", type=int, default=None, help="stop after this many environment steps")
    p.add_argument("--env-runners", type=int, default=2, help="EnvRunner actors (0: sample in this process)")
    p.add_argument("--envs-per-runner", type=int, default=32, help="robots simulated per EnvRunner (batched)")
    p.add_argument("--rollout-fragment", type=int, default=64, help="steps per environment per iteration")
    p.add_argument("--minibatch-size", type=int, default=PPOTrainingConfig.minibatch_size)
    p.add_argument("--num-epochs", type=int, default=PPOTrainingConfig.num_epochs, help="PPO passes over each batch")
    p.add_argument("--action-scale", type=float, default=None, help="rad per unit action around the nominal pose")
    p.add_argument("--init-log-std", type=float, default=None, help="initial log std of the policy's actions")
    p.add_argument("--episode-length-s", type=float, default=20.0, help="episode length (the seed: 20 s stands)")
    p.add_argument("--run-dir", type=Path, default=Path("runs/humanoid_curriculum"), help="checkpoints go here")
    p.add_argument("--mlflow-uri", default=None, help="default: a SQLite store in --run-dir/..")
    p.add_argument("--experiment", default="humanoid_curriculum", help="MLflow experiment name")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint or run directory to continue from")
    p.add_argument("--eval-episodes", type=int, default=3, help="episodes of the final evaluation (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.time_budget_min <= 0:
        p.error(f"--time-budget-min={args.time_budget_min}: expected > 0")
    if args.env_steps is not None and args.env_steps <= 0:
        p.error(f"--env-steps={args.env_steps}: expected > 0")
    return args


def progress_line(it: int, result: dict, steps: int, rate: float) -> str:
    runners = result.get("env_runners", {})
    cur = result[METRICS_KEY]
    terms = runners.get(REWARD_TERMS_KEY, {})
    stats = cur["stats"]
    return (
        f"it {it:4d} | stage {cur['stage_index']} {cur['stage']:<8} | steps {steps:>10,} | {rate:6.0f} steps/s"
        f" | return {runners.get('episode_return_mean', float('nan')):7.1f}"
        f" | survival {stats.get('survived', float('nan')):.2f} v_err {stats.get('velocity_error_mps', float('nan')):.2f}"
        f" ({int(stats.get('episodes', 0))} ep: {cur['reason']})"
        f" | " + " ".join(f"{k} {v:.1f}" for k, v in sorted(terms.items()))
    )


def main():
    args = parse_args()
    model_config = {"embodiment": "humanoid"}
    if args.init_log_std is not None:
        model_config["init_log_std"] = args.init_log_std
    training = PPOTrainingConfig(
        num_env_runners=args.env_runners,
        num_envs_per_env_runner=args.envs_per_runner,
        rollout_fragment_length=args.rollout_fragment,
        minibatch_size=args.minibatch_size,
        num_epochs=args.num_epochs,
        seed=args.seed,
        model_config=model_config,
    )
    env_config = {**HUMANOID_CURRICULUM[0].env_settings, "episode_length_s": args.episode_length_s}
    if args.action_scale is not None:
        env_config["action_scale"] = args.action_scale
    config = build_ppo_config(training, HUMANOID_LOCOMOTION_ID, env_config, CurriculumCallback)

    # Under `ray job submit` RAY_ADDRESS names the cluster; otherwise start Ray in this process (never
    # attach to some other cluster that happens to run on this machine).
    ray.init(address=os.environ.get("RAY_ADDRESS") or "local")
    algo = config.build_algo()
    if args.resume:
        print(f"resumed from {restore_checkpoint(algo, args.resume)} at iteration {algo.iteration}")

    tracking_uri = args.mlflow_uri or default_tracking_uri(args.run_dir.parent)
    run_name = f"{args.run_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    curriculum = curriculum_of(algo)

    def card(result_stage: str, steps: int) -> PolicyCard:
        return PolicyCard(
            env_id=HUMANOID_LOCOMOTION_ID, env_config=dict(algo.config.env_config), model_config=training.model_config,
            embodiment="humanoid", stage=result_stage, training_iteration=algo.iteration, env_steps=steps,
        )

    with TrainingRun(tracking_uri, args.experiment, run_name, args.run_dir.parent / "mlartifacts") as run:
        run.log_params({"training": training.__dict__, "env": env_config, "budget_min": args.time_budget_min,
                        "resume": str(args.resume or "")})
        print(f"MLflow run {run.run_id} at {tracking_uri}")
        start, last_time, last_steps, steps = time.time(), time.time(), 0, 0
        stage_name = HUMANOID_CURRICULUM[curriculum.current_stage(algo)].name
        while True:
            result = algo.train()
            steps = int(result.get("num_env_steps_sampled_lifetime", 0))
            now = time.time()
            rate = (steps - last_steps) / max(now - last_time, 1e-9)
            last_time, last_steps = now, steps
            cur = result[METRICS_KEY]
            print(progress_line(algo.iteration, result, steps, rate), flush=True)
            runners = result.get("env_runners", {})
            run.log_metrics(
                {"stage_index": cur["stage_index"], "env_steps": steps, "steps_per_s": rate,
                 "episode_return_mean": runners.get("episode_return_mean", float("nan")),
                 "reward_terms": runners.get(REWARD_TERMS_KEY, {}),
                 "curriculum": {"stage_window": cur["stats"], "this_iteration": runners.get(METRICS_KEY, {})}},
                step=algo.iteration,
            )
            if cur["promoted"]:
                path = save_checkpoint(algo, args.run_dir, f"promoted_{stage_name}_iter{algo.iteration}", card(stage_name, steps))
                run.set_tag(f"checkpoint/{stage_name}", str(path.resolve()))
                print(f"promoted past {stage_name} after {now - start:.0f} s and {steps:,} steps -> {cur['stage']}; checkpoint {path}")
                stage_name = cur["stage"]
            out_of_time = now - start >= args.time_budget_min * 60
            out_of_steps = args.env_steps is not None and steps >= args.env_steps
            if cur["completed"] or out_of_time or out_of_steps:
                break

        final = save_checkpoint(algo, args.run_dir, f"final_iter{algo.iteration}", card(stage_name, steps))
        run.set_tag("checkpoint/final", str(final.resolve()))
        algo.stop()
        print(f"final checkpoint {final} (stage {stage_name}, {steps:,} env steps, {time.time() - start:.0f} s)")

        if args.eval_episodes > 0:
            video = final / "evaluation.mp4"
            report = evaluate_policy(Policy.from_checkpoint(final), PolicyCard.load(final).env_config,
                                     args.eval_episodes, video_path=str(video))
            run.log_metrics({"eval": report.to_dict()}, step=algo.iteration)
            run.log_artifact(video, "evaluation")
            print(f"evaluation ({stage_name}): {report.to_dict()}")
    print("\nEvaluate it again:\n"
          f"  python -m vla_ray.evaluate --checkpoint {args.run_dir} --episodes 20 --video {args.run_dir}/eval.mp4\n"
          f"Serve it over HTTP (then drive the simulated robot through the endpoint):\n"
          f"  python -m serve --policy humanoid={args.run_dir}\n"
          f"  python experiments/serve_client.py --policy humanoid --episodes 5\n"
          f"Export it for the robot (TorchScript, ONNX):\n"
          f"  python -m vla_ray.export --checkpoint {args.run_dir} --out {args.run_dir}/exported\n"
          f"Browse the run:\n  mlflow ui --backend-store-uri {tracking_uri}")


if __name__ == "__main__":
    main()
