"""Faults on real processes: an EnvRunner SIGKILLed while training samples, and the main job's driver SIGKILLed
mid-run, then rerun with --resume."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import envs
from local_cluster import REPO, kill_tree
from vla_ray.checkpoints import LATEST, PolicyCard, resolve_checkpoint
from vla_ray.episode_metrics import EpisodeMetricsCallback
from vla_ray.policy import Policy
from vla_ray.training import PPOTrainingConfig, build_ppo_config

TWO_RUNNERS = PPOTrainingConfig(num_env_runners=2, num_envs_per_env_runner=4, rollout_fragment_length=64,
                                minibatch_size=128, num_epochs=1, seed=0,
                                model_config={"embodiment": "spot"})


def runner_pids(algo) -> list[int]:
    return algo.env_runner_group.foreach_env_runner(lambda runner: os.getpid(), local_env_runner=False)


def test_training_goes_on_when_an_env_runner_process_is_killed_while_sampling(ray_session):
    algo = build_ppo_config(TWO_RUNNERS, envs.QUADRUPED_ID, {"episode_length_s": 0.5},
                            EpisodeMetricsCallback).build_algo()
    try:
        algo.train()
        victim = runner_pids(algo)[0]
        # SIGKILL from outside while the next iteration samples: no chance for the runner to clean up.
        threading.Timer(0.2, os.kill, (victim, signal.SIGKILL)).start()
        iterations, steps = [], []
        for _ in range(4):
            result = algo.train()
            iterations.append(algo.iteration)
            steps.append(result["num_env_steps_sampled_lifetime"])
            assert np.isfinite(result["learners"]["default_policy"]["policy_loss"])
        assert iterations == [2, 3, 4, 5]
        assert all(b > a for a, b in zip(steps, steps[1:])), steps  # every iteration sampled and counted
        deadline = time.time() + 120
        while algo.env_runner_group.num_healthy_remote_workers() < 2:  # RLlib restarts the dead runner
            assert time.time() < deadline, "the killed EnvRunner was not restarted"
            algo.train()
        pids = runner_pids(algo)
        assert victim not in pids and len(set(pids)) == 2
        assert algo.env_runner_group.num_remote_worker_restarts() >= 1
    finally:
        algo.stop()


def test_killed_driver_leaves_a_complete_checkpoint_and_resume_continues_from_it(tmp_path):
    run_dir = tmp_path / "run"
    tiny = ["experiments/humanoid_curriculum.py", "--env-runners", "1", "--envs-per-runner", "4",
            "--rollout-fragment", "32", "--minibatch-size", "64", "--episode-length-s", "0.5", "--eval-episodes", "0",
            "--run-dir", str(run_dir), "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    proc = subprocess.Popen([sys.executable, *tiny, "--checkpoint-every", "1", "--time-budget-min", "10"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while not ((run_dir / LATEST).is_file() and PolicyCard.load(resolve_checkpoint(run_dir)).training_iteration >= 2):
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"no second checkpoint: {proc.stdout.read()[-3000:]}")
            time.sleep(0.2)
    finally:
        kill_tree(proc.pid)  # the driver and the Ray it started, mid-iteration: no shutdown code runs
    checkpoint = resolve_checkpoint(run_dir)  # LATEST names a complete checkpoint, whatever was being written
    card = PolicyCard.load(checkpoint)
    Policy.from_checkpoint(checkpoint)

    done = subprocess.run([sys.executable, *tiny, "--resume", str(run_dir), "--env-steps", "1"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"at iteration {card.training_iteration} (stage stand)" in done.stdout
    iterations = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("it ")]
    assert iterations == [card.training_iteration + 1]
    final = PolicyCard.load(resolve_checkpoint(run_dir))
    assert final.training_iteration == card.training_iteration + 1 and final.env_steps > card.env_steps
