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
from pathlib import Path

import envs
from vla_ray.episode_metrics import EPISODE_KEY, EpisodeMetricsCallback
from vla_ray.imitation.config import DISCRIMINATOR_ID, ImitationConfig, with_imitation
from vla_ray.models.skill_head import chunk_env_settings
from vla_ray.training import PPOTrainingConfig
from vla_ray.training_run import (
    Iteration, add_run_arguments, build_algorithm_config, check_run_arguments, run_training, training_config,
)

ERROR_MEASURES = ("position_error_m", "velocity_tracking_error_mps")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", required=True, choices=sorted(envs.ENVIRONMENTS), help="registered environment id")
    p.add_argument("--env-config", type=json.loads, default={}, help="environment settings as JSON")
    add_run_arguments(p, run_dir="runs/train", experiment="train", time_budget_min=15.0, envs_per_runner=16,
                      eval_episodes=10, checkpoint_every=20)
    p.add_argument("--target-success", type=float, default=None, help="stop once the windowed success rate reaches it")
    p.add_argument("--lr", type=float, default=PPOTrainingConfig.lr, help="PPO's learning rate")
    p.add_argument("--model-config", type=json.loads, default={}, help="VLA module options as JSON")
    p.add_argument("--imitation", type=json.loads, default=None,
                   help='GAIL or AMP on top of PPO, e.g. \'{"method": "gail", "expert_dataset": "demos.parquet", '
                        '"features": ["joint_pos", "ee_pos", "goal_pos"]}\' (vla_ray.imitation.config)')
    args = p.parse_args(argv)
    check_run_arguments(p, args)
    for key in ("primitive_library", "pretrained_encoder"):
        if args.model_config.get(key):
            # Absolute: EnvRunner processes and later loads of the checkpoint need not share this working directory.
            args.model_config[key] = str(Path(args.model_config[key]).resolve())
    # A skills-head policy acts in chunks of its primitive library's length, with full-range joint targets.
    args.env_config = {**args.env_config, **chunk_env_settings(args.model_config)}
    # Fail on a bad setting here, before Ray starts: the same validation the environment applies.
    envs.policy_interface(args.env, args.env_config)
    if args.imitation is not None:
        if args.algorithm != "ppo":
            p.error(f"--imitation: GAIL and AMP run on PPO, not --algorithm {args.algorithm}")
        try:
            args.imitation = ImitationConfig.from_kwargs(args.imitation)
        except ValueError as error:
            p.error(f"--imitation: {error}")
    return args


def progress_line(it: Iteration) -> str:
    runners = it.result.get("env_runners", {})
    episode = runners.get(EPISODE_KEY, {})
    measures = " ".join(f"{name} {episode[name]:.3f}" for name in ERROR_MEASURES if name in episode)
    line = (
        f"it {it.algo.iteration:4d} | steps {it.env_steps:>10,} | {it.steps_per_s:6.0f} steps/s"
        f" | return {runners.get('episode_return_mean', float('nan')):7.2f}"
        f" | success {episode.get('success', float('nan')):.2f} | {measures}"
    )
    disc = it.result.get("learners", {}).get(DISCRIMINATOR_ID)
    if disc:
        line += (f" | disc acc expert {disc['expert_accuracy']:.2f} policy {disc['policy_accuracy']:.2f}"
                 f" style {disc['style_reward_mean']:.3f} pose err {disc.get('pose_error_rad', float('nan')):.3f}")
    return line


def iteration_metrics(it: Iteration) -> dict:
    runners = it.result.get("env_runners", {})
    disc = it.result.get("learners", {}).get(DISCRIMINATOR_ID, {})
    return {"episode_return_mean": runners.get("episode_return_mean", float("nan")),
            "episode": runners.get(EPISODE_KEY, {}), "reward_terms": runners.get("reward_terms", {}),
            "discriminator": {k: v for k, v in disc.items() if isinstance(v, float)}}


def main(argv=None):
    args = parse_args(argv)
    robot = envs.policy_interface(args.env, args.env_config).embodiment
    embodiment = robot.robot_name
    overrides = {"lr": args.lr} if args.algorithm == "ppo" else {}
    training = training_config(
        args, {"embodiment": embodiment, "action_type": robot.action_type, **args.model_config}, **overrides
    )
    config = build_algorithm_config(args, training, args.env, args.env_config, EpisodeMetricsCallback)
    if args.imitation is not None:
        config = with_imitation(config, args.imitation, args.env, args.env_config)

    def reached_target(it: Iteration, run, save) -> bool:
        success = it.result.get("env_runners", {}).get(EPISODE_KEY, {}).get("success", 0.0)
        return args.target_success is not None and success >= args.target_success

    run_training(config, args, training, env_id=args.env, embodiment=embodiment,
                 params={"env": args.env, "env_config": args.env_config,
                         "imitation": args.imitation.to_dict() if args.imitation else {}}, progress=progress_line,
                 metrics=iteration_metrics, after_iteration=reached_target)


if __name__ == "__main__":
    main()
