"""Ray Tune sweep over terrain type and level and domain-randomization ranges, for any algorithm and robot.

    python experiments/sweep_terrain_dr.py --env vla_ray/QuadrupedLocomotion-v0 \\
        --terrains flat rough stairs_up --levels 0 4 --randomization '{"friction": [[0.5, 1.5], [0.2, 2.0]]}'
    python experiments/sweep_terrain_dr.py --resume runs/sweeps/<name>     # continue an interrupted sweep
    RAY_AUTH_MODE=token ray job submit --working-dir . -- python experiments/sweep_terrain_dr.py ...

Each trial trains in one world (terrain type at a fixed level, randomization ranges) and
reports every iteration; ASHA stops the weak ones early. Every trial is an MLflow run under
one experiment and writes TensorBoard event files in its trial directory. A crashed trial is
retried from its last checkpoint (--max-failures). At the end: results.md / results.json with
the best configuration per terrain and a robustness matrix (each terrain's best policy evaluated
in every terrain's best world), and the best checkpoints under <sweep>/best/<terrain>, ready
for `python -m serve --policy name=<sweep>/best/<terrain>`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import ray
from ray import tune
from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.tune.schedulers import ASHAScheduler

import envs
from envs.terrain import TERRAIN_TYPES
from vla_ray.sweep.report import best_per_terrain, export_best, outcomes, robustness_matrix, write_report
from vla_ray.sweep.trial import TRIAL_METRICS, TrialSetup, train_trial
from vla_ray.sweep.worlds import SEARCH_MODES, SweepSpace
from vla_ray.tracking import default_tracking_uri
from vla_ray.algorithms import ALGORITHMS
from vla_ray.training import PPOTrainingConfig

SETTINGS_FILE = "sweep_settings.json"  # the command line of a sweep, so --resume needs nothing else


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", choices=sorted(envs.ENVIRONMENTS), default=envs.QUADRUPED_ID, help="environment id")
    p.add_argument("--env-config", type=json.loads, default={}, help="settings every trial shares, as JSON")
    p.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="ppo")
    p.add_argument("--terrains", nargs="+", choices=TERRAIN_TYPES, default=None,
                   help="terrain types (default: the environment's own floor, no terrain)")
    p.add_argument("--levels", nargs="+", type=int, default=[0], help="difficulty levels 0..9 of each terrain")
    p.add_argument("--terrain-curriculum", action="store_true",
                   help="let the level curriculum move robots up from --levels (default: fixed level)")
    p.add_argument("--randomization", type=json.loads, default={},
                   help='candidates per randomization field, e.g. \'{"push_force_n": [[0, 0], [0, 100]]}\'')
    p.add_argument("--search", choices=SEARCH_MODES, default="grid",
                   help="grid: every combination; random: --num-samples random draws of the randomization per world")
    p.add_argument("--num-samples", type=int, default=1, help="repeats of the grid (random search: draws)")
    p.add_argument("--iterations", type=int, default=50, help="training iterations per trial (ASHA's max_t)")
    p.add_argument("--grace-period", type=int, default=10, help="iterations before ASHA may stop a trial")
    p.add_argument("--metric", choices=TRIAL_METRICS, default="episode_return_mean", help="what ASHA and 'best' rank")
    p.add_argument("--checkpoint-every", type=int, default=5, help="iterations between a trial's checkpoints")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a crashed trial (from its last checkpoint)")
    p.add_argument("--max-concurrent", type=int, default=0, help="trials at once (0: as many as the CPUs allow)")
    p.add_argument("--env-runners", type=int, default=0, help="EnvRunner actors per trial (0: sample in the trial)")
    p.add_argument("--envs-per-runner", type=int, default=16, help="robots simulated per EnvRunner (batched)")
    p.add_argument("--rollout-fragment", type=int, default=None, help="default: the algorithm's (PPO 64, SAC 4)")
    p.add_argument("--minibatch-size", type=int, default=PPOTrainingConfig.minibatch_size, help="PPO only")
    p.add_argument("--num-epochs", type=int, default=PPOTrainingConfig.num_epochs, help="PPO only")
    p.add_argument("--lr", type=float, default=PPOTrainingConfig.lr, help="PPO only")
    p.add_argument("--eval-episodes", type=int, default=5, help="episodes per robustness-matrix cell (0: skip)")
    p.add_argument("--out", type=Path, default=Path("runs/sweeps"), help="sweeps are stored here")
    p.add_argument("--name", default=None, help="sweep name (default: sweep-<date>-<time>)")
    p.add_argument("--mlflow-uri", default=None, help="default: a SQLite store in --out")
    p.add_argument("--resume", type=Path, default=None, help="a sweep directory to continue (Tuner.restore)")
    p.add_argument("--seed", type=int, default=0)
    return p, p.parse_args(argv)


def sweep_settings(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """The validated sweep: a bad world, range or training value fails here, before Ray starts."""
    embodiment = envs.policy_interface(args.env, args.env_config).embodiment.robot_name
    training = {"num_env_runners": args.env_runners, "num_envs_per_env_runner": args.envs_per_runner,
                "seed": args.seed, "model_config": {"embodiment": embodiment}}
    if args.rollout_fragment is not None:
        training["rollout_fragment_length"] = args.rollout_fragment
    if args.algorithm == "ppo":
        training.update(minibatch_size=args.minibatch_size, num_epochs=args.num_epochs, lr=args.lr)
    try:
        setup = TrialSetup(env_id=args.env, base_env_config=args.env_config, algorithm=args.algorithm,
                           training=training, iterations=args.iterations, checkpoint_every=args.checkpoint_every)
        space = SweepSpace(terrains=tuple(args.terrains or (None,)), levels=tuple(args.levels),
                           randomization=args.randomization, search=args.search,
                           terrain_curriculum=args.terrain_curriculum)
    except ValueError as error:
        p.error(str(error))
    for flag in ("num_samples", "grace_period", "max_concurrent", "max_failures", "eval_episodes"):
        if getattr(args, flag) < (1 if flag in ("num_samples", "grace_period") else 0):
            p.error(f"--{flag.replace('_', '-')}={getattr(args, flag)}: out of range")
    return {"setup": setup.__dict__, "space": space.__dict__, "metric": args.metric,
            "num_samples": args.num_samples, "grace_period": args.grace_period, "max_failures": args.max_failures,
            "max_concurrent": args.max_concurrent, "eval_episodes": args.eval_episodes, "seed": args.seed,
            "mlflow_uri": args.mlflow_uri or default_tracking_uri(args.out.resolve())}


def trainable(setup: dict):
    """train_trial with the resources one trial needs: its own process plus its EnvRunners."""
    runners = setup["training"]["num_env_runners"]
    bundles = [{"CPU": 1}] + [{"CPU": 1}] * runners
    return tune.with_resources(train_trial, tune.PlacementGroupFactory(bundles))


def run_config(name: str, storage: Path, settings: dict) -> tune.RunConfig:
    return tune.RunConfig(
        name=name,
        storage_path=str(storage.resolve()),
        failure_config=tune.FailureConfig(max_failures=settings["max_failures"]),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        # One MLflow run per trial, grouped under the sweep's experiment; Tune adds its CSV, JSON and
        # TensorBoard (tensorboardX) loggers next to it, in each trial's directory.
        callbacks=[MLflowLoggerCallback(tracking_uri=settings["mlflow_uri"], experiment_name=name,
                                        tags={"sweep": name})],
        verbose=1,
    )


def main(argv=None):
    p, args = parse_args(argv)
    ray.init(address=os.environ.get("RAY_ADDRESS") or "local")
    if args.resume:
        sweep_dir = args.resume.resolve()
        settings = json.loads((sweep_dir / SETTINGS_FILE).read_text())
        name = sweep_dir.name
        tuner = tune.Tuner.restore(str(sweep_dir), trainable=trainable(settings["setup"]), resume_unfinished=True,
                                   resume_errored=True)
        print(f"resuming sweep {sweep_dir}", flush=True)
    else:
        settings = sweep_settings(p, args)
        name = args.name or f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
        sweep_dir = (args.out / name).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
        space = SweepSpace(**settings["space"])
        tuner = tune.Tuner(
            trainable(settings["setup"]),
            param_space={"setup": settings["setup"], "world": space.param_space()},
            tune_config=tune.TuneConfig(
                scheduler=ASHAScheduler(time_attr="training_iteration", metric=settings["metric"], mode="max",
                                        max_t=settings["setup"]["iterations"], grace_period=settings["grace_period"]),
                num_samples=settings["num_samples"], max_concurrent_trials=settings["max_concurrent"] or None,
            ),
            run_config=run_config(name, args.out, settings),
        )
    print(f"sweep {name}: {sweep_dir}\n  TensorBoard: tensorboard --logdir {sweep_dir}\n"
          f"  MLflow: mlflow ui --backend-store-uri {settings['mlflow_uri']} (experiment {name})", flush=True)
    grid = tuner.fit()
    rows = outcomes(grid, settings["metric"])
    best = best_per_terrain(rows, "max")
    exported = export_best(best, sweep_dir / "best")
    base = settings["setup"]["base_env_config"]
    matrix = robustness_matrix(best, base, settings["eval_episodes"], settings["seed"]) if settings["eval_episodes"] else {}
    report = write_report(sweep_dir, rows, best, matrix, exported, settings["metric"])
    print(report.read_text())
    errors = [r for r in grid if r.error]
    print(f"{len(rows)} trials ({len(errors)} failed past their retries); report {report};"
          f" serve the best: " + " ".join(f"--policy {t}={p}" for t, p in exported.items()), flush=True)


if __name__ == "__main__":
    main()
