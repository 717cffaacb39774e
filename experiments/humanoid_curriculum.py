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

from envs import HUMANOID_LOCOMOTION_ID
from vla_ray.curriculum import HUMANOID_CURRICULUM, METRICS_KEY, REWARD_TERMS_KEY, CurriculumCallback, curriculum_of
from vla_ray.training_run import (
    Iteration, add_run_arguments, build_algorithm_config, check_run_arguments, run_training, training_config,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p, run_dir="runs/humanoid_curriculum", experiment="humanoid_curriculum", time_budget_min=14.0,
                      envs_per_runner=32, eval_episodes=3, checkpoint_every=25)
    p.add_argument("--action-scale", type=float, default=None, help="rad per unit action around the nominal pose")
    p.add_argument("--init-log-std", type=float, default=None, help="initial log std of the policy's actions")
    p.add_argument("--episode-length-s", type=float, default=20.0, help="episode length (the seed: 20 s stands)")
    args = p.parse_args(argv)
    check_run_arguments(p, args)
    return args


def progress_line(it: Iteration) -> str:
    runners = it.result.get("env_runners", {})
    cur = it.result[METRICS_KEY]
    terms = runners.get(REWARD_TERMS_KEY, {})
    stats = cur["stats"]
    return (
        f"it {it.algo.iteration:4d} | stage {cur['stage_index']} {cur['stage']:<8} | steps {it.env_steps:>10,}"
        f" | {it.steps_per_s:6.0f} steps/s | return {runners.get('episode_return_mean', float('nan')):7.1f}"
        f" | survival {stats.get('survived', float('nan')):.2f} v_err {stats.get('velocity_error_mps', float('nan')):.2f}"
        f" ({int(stats.get('episodes', 0))} ep: {cur['reason']})"
        f" | " + " ".join(f"{k} {v:.1f}" for k, v in sorted(terms.items()))
    )


def iteration_metrics(it: Iteration) -> dict:
    runners = it.result.get("env_runners", {})
    cur = it.result[METRICS_KEY]
    return {"stage_index": cur["stage_index"],
            "episode_return_mean": runners.get("episode_return_mean", float("nan")),
            "reward_terms": runners.get(REWARD_TERMS_KEY, {}),
            "curriculum": {"stage_window": cur["stats"], "this_iteration": runners.get(METRICS_KEY, {})}}


def main(argv=None):
    args = parse_args(argv)
    model_config = {"embodiment": "humanoid"}
    if args.init_log_std is not None:
        model_config["init_log_std"] = args.init_log_std
    training = training_config(args, model_config)
    env_config = {**HUMANOID_CURRICULUM[0].env_settings, "episode_length_s": args.episode_length_s}
    if args.action_scale is not None:
        env_config["action_scale"] = args.action_scale
    config = build_algorithm_config(args, training, HUMANOID_LOCOMOTION_ID, env_config, CurriculumCallback)

    def stage(algo) -> str:
        return HUMANOID_CURRICULUM[curriculum_of(algo).current_stage(algo)].name

    def after_iteration(it: Iteration, run, save) -> bool:
        cur = it.result[METRICS_KEY]
        if cur["promoted"]:
            passed = HUMANOID_CURRICULUM[cur["stage_index"] - 1].name
            path = save(f"promoted_{passed}_iter{it.algo.iteration}")
            run.set_tag(f"checkpoint/{passed}", str(path.resolve()))
            print(f"promoted past {passed} after {it.elapsed_s:.0f} s and {it.env_steps:,} steps -> {cur['stage']};"
                  f" checkpoint {path}", flush=True)
        return cur["completed"]

    run_training(config, args, training, env_id=HUMANOID_LOCOMOTION_ID, embodiment="humanoid",
                 params={"env": env_config}, progress=progress_line, metrics=iteration_metrics,
                 after_iteration=after_iteration, stage=stage)


if __name__ == "__main__":
    main()
