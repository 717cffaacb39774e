"""One training run of an experiment script: Ray, the Algorithm, resume, MLflow, checkpoints, stopping, evaluation.

The experiment scripts (train.py, humanoid_curriculum.py) differ in what they print and
log per iteration and in when they are done; everything a run must survive is here once:
- `--resume` restores weights, optimizer, iteration and the callbacks' state (curriculum stage);
- a checkpoint every `--checkpoint-every` iterations, written then renamed (vla_ray.checkpoints),
  so a driver killed at any moment leaves the last complete one behind;
- SIGTERM (what `ray job stop` sends) ends the run after the current iteration with a
  `stopped_iter<N>` checkpoint, inside RAY_JOB_STOP_WAIT_TIME_S (Ray's default: 3 s);
- placement flags put Learners on GPUs and EnvRunners on nodes with a custom resource.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ray

from vla_ray.checkpoints import PolicyCard, restore_checkpoint, save_checkpoint
from vla_ray.evaluate import evaluate_policy
from vla_ray.policy import Policy
from vla_ray.tracking import TrainingRun, default_tracking_uri
from vla_ray.algorithms import ALGORITHMS
from vla_ray.training import PPOTrainingConfig


def add_run_arguments(
    p: argparse.ArgumentParser, *, run_dir: str, experiment: str, time_budget_min: float, envs_per_runner: int,
    eval_episodes: int, checkpoint_every: int,
) -> None:
    p.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="ppo", help="RLlib algorithm")
    p.add_argument("--time-budget-min", type=float, default=time_budget_min, help="wall-clock training budget (minutes)")
    p.add_argument("--env-steps", type=int, default=None, help="stop after this many environment steps")
    p.add_argument("--env-runners", type=int, default=2, help="EnvRunner actors (0: sample in this process)")
    p.add_argument("--envs-per-runner", type=int, default=envs_per_runner, help="robots simulated per EnvRunner (batched)")
    p.add_argument("--rollout-fragment", type=int, default=None,
                   help="steps per environment per sample call (default: PPO 64, SAC 4)")
    p.add_argument("--minibatch-size", type=int, default=PPOTrainingConfig.minibatch_size, help="PPO only")
    p.add_argument("--num-epochs", type=int, default=PPOTrainingConfig.num_epochs, help="PPO passes over each batch")
    p.add_argument("--checkpoint-every", type=int, default=checkpoint_every, help="iterations between checkpoints")
    p.add_argument("--run-dir", type=Path, default=Path(run_dir), help="checkpoints go here")
    p.add_argument("--mlflow-uri", default=None, help="default: a SQLite store in --run-dir/..")
    p.add_argument("--experiment", default=experiment, help="MLflow experiment name")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint or run directory to continue from")
    p.add_argument("--eval-episodes", type=int, default=eval_episodes, help="episodes of the final evaluation (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    cluster = p.add_argument_group("placement on a cluster (see cluster.yaml)")
    cluster.add_argument("--num-learners", type=int, default=0, help="Learner actors (0: learn in the driver)")
    cluster.add_argument("--gpus-per-learner", type=float, default=0.0, help="GPUs each Learner actor asks for")
    cluster.add_argument("--env-runner-resources", type=json.loads, default={},
                         help='custom resources each EnvRunner asks for, e.g. \'{"env_runner_slot": 1}\'')


def check_run_arguments(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.time_budget_min <= 0:
        p.error(f"--time-budget-min={args.time_budget_min}: expected > 0")
    if args.env_steps is not None and args.env_steps <= 0:
        p.error(f"--env-steps={args.env_steps}: expected > 0")
    if args.checkpoint_every < 1:
        p.error(f"--checkpoint-every={args.checkpoint_every}: expected >= 1")


def training_config(args: argparse.Namespace, model_config: dict, **overrides):
    """The algorithm's training config the shared flags describe (validated: a bad value fails before Ray
    starts); `overrides` are further fields of that config."""
    fields = dict(
        num_env_runners=args.env_runners,
        num_envs_per_env_runner=args.envs_per_runner,
        seed=args.seed,
        model_config=model_config,
        num_learners=args.num_learners,
        num_gpus_per_learner=args.gpus_per_learner,
        env_runner_resources=args.env_runner_resources,
        **overrides,
    )
    if args.rollout_fragment is not None:
        fields["rollout_fragment_length"] = args.rollout_fragment
    if args.algorithm == "ppo":
        fields.update(minibatch_size=args.minibatch_size, num_epochs=args.num_epochs)
    return ALGORITHMS[args.algorithm][0](**fields)


def build_algorithm_config(args: argparse.Namespace, training, env_id: str, env_config: dict, callbacks):
    return ALGORITHMS[args.algorithm][1](training, env_id, env_config, callbacks)


class StopRequest:
    """Turns SIGTERM into a request to stop after the current iteration (the handler only sets a flag:
    a checkpoint written from inside a signal handler could interleave with the one being trained on)."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        print("SIGTERM: stopping after this iteration with a checkpoint", flush=True)
        self.requested = True

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._previous)


@dataclass(frozen=True)
class Iteration:
    algo: object  # the Algorithm, after train()
    result: dict
    env_steps: int
    steps_per_s: float
    elapsed_s: float


def env_runner_nodes(algo) -> list[str]:
    """The Ray node id of every remote EnvRunner (where the sampling runs)."""
    return algo.env_runner_group.foreach_env_runner(
        lambda runner: ray.get_runtime_context().get_node_id(), local_env_runner=False
    )


def run_training(
    algo_config, args: argparse.Namespace, training, *, env_id: str, embodiment: str, params: dict,
    progress: Callable[[Iteration], str], metrics: Callable[[Iteration], dict],
    after_iteration: Callable[[Iteration, TrainingRun, Callable[[str], PolicyCard]], bool] = lambda *_: False,
    stage: Callable[[object], str] = lambda algo: "final",
) -> Path:
    """Train until done (after_iteration returns True), out of budget or steps, or stopped; returns the final
    checkpoint. `progress` gives the line printed per iteration, `metrics` what MLflow logs, `stage` the
    curriculum stage the checkpoint's card records."""
    # Under `ray job submit` RAY_ADDRESS names the cluster; otherwise start Ray in this process (never attach
    # to some other cluster that happens to run on this machine).
    ray.init(address=os.environ.get("RAY_ADDRESS") or "local")
    algo = algo_config.build_algo()
    if training.num_env_runners:
        print(f"EnvRunners on nodes: {' '.join(env_runner_nodes(algo))}", flush=True)
    if args.resume:
        print(f"resumed from {restore_checkpoint(algo, args.resume)} at iteration {algo.iteration}"
              f" (stage {stage(algo)})", flush=True)
    tracking_uri = args.mlflow_uri or default_tracking_uri(args.run_dir.parent)

    def card(steps: int) -> PolicyCard:
        return PolicyCard(
            env_id=env_id, env_config=dict(algo.config.env_config), model_config=training.model_config,
            embodiment=embodiment, stage=stage(algo), training_iteration=algo.iteration, env_steps=steps,
        )

    run_name = f"{args.run_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with TrainingRun(tracking_uri, args.experiment, run_name, args.run_dir.parent / "mlartifacts") as run, \
            StopRequest() as stop:
        run.log_params({**params, "training": training.__dict__, "budget_min": args.time_budget_min,
                        "resume": str(args.resume or "")})
        print(f"MLflow run {run.run_id} at {tracking_uri}", flush=True)
        start = last_time = time.time()
        last_steps = steps = 0
        while True:
            result = algo.train()
            steps = int(result.get("num_env_steps_sampled_lifetime", 0))
            now = time.time()
            it = Iteration(algo, result, steps, (steps - last_steps) / max(now - last_time, 1e-9), now - start)
            last_time, last_steps = now, steps
            print(progress(it), flush=True)
            run.log_metrics({"env_steps": steps, "steps_per_s": it.steps_per_s, "wall_s": it.elapsed_s, **metrics(it)},
                            step=algo.iteration)
            done = after_iteration(it, run, lambda name: save_checkpoint(algo, args.run_dir, name, card(steps)))
            if algo.iteration % args.checkpoint_every == 0 and not (done or stop.requested):
                save_checkpoint(algo, args.run_dir, f"iter{algo.iteration}", card(steps))
            out_of_time = it.elapsed_s >= args.time_budget_min * 60
            if done or stop.requested or out_of_time or (args.env_steps and steps >= args.env_steps):
                break
        name = f"{'stopped' if stop.requested else 'final'}_iter{algo.iteration}"
        final = save_checkpoint(algo, args.run_dir, name, card(steps))
        run.set_tag("checkpoint/final", str(final.resolve()))
        print(f"final checkpoint {final} (stage {stage(algo)}, {steps:,} env steps, {time.time() - start:.0f} s)", flush=True)
        algo.stop()
        # A stopped job has seconds before SIGKILL: the checkpoint is what counts, the evaluation can be rerun.
        if args.eval_episodes > 0 and not stop.requested:
            video = final / "evaluation.mp4"
            report = evaluate_policy(Policy.from_checkpoint(final), PolicyCard.load(final).env_config,
                                     args.eval_episodes, video_path=str(video))
            run.log_metrics({"eval": report.to_dict()}, step=algo.iteration)
            run.log_artifact(video, "evaluation")
            print(f"evaluation ({stage(algo)}): {json.dumps(report.to_dict())}", flush=True)
    print("\nEvaluate it again:\n"
          f"  python -m vla_ray.evaluate --checkpoint {args.run_dir} --episodes 20 --video {args.run_dir}/eval.mp4\n"
          "Serve it over HTTP (then drive the simulated robot through the endpoint):\n"
          f"  python -m serve --policy {embodiment}={args.run_dir}\n"
          f"  python experiments/serve_client.py --policy {embodiment} --episodes 5\n"
          "Export it for the robot (TorchScript, ONNX):\n"
          f"  python -m vla_ray.export --checkpoint {args.run_dir} --out {args.run_dir}/exported\n"
          f"Browse the run:\n  mlflow ui --backend-store-uri {tracking_uri}", flush=True)
    return final
