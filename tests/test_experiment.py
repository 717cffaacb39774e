"""The main job end to end, as a user runs it: a short curriculum run with its own Ray, checkpoints,
an MLflow run in a local store, a resumed run, and the evaluation command with a video."""

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[1]
TINY = ["--env-runners", "1", "--envs-per-runner", "4", "--rollout-fragment", "32", "--minibatch-size", "64",
        "--episode-length-s", "1.0", "--eval-episodes", "1"]


def run(args, cwd=REPO, timeout=400):
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("main_job")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    out = run(["experiments/humanoid_curriculum.py", *TINY, "--env-steps", "256",
               "--run-dir", str(root / "run"), "--mlflow-uri", uri])
    return root, uri, out


def test_main_job_prints_progress_and_leaves_a_checkpoint(trained):
    root, _, out = trained
    progress = [line for line in out.splitlines() if line.startswith("it ")]
    assert progress and "stage 0 stand" in progress[0] and "steps/s" in progress[0]
    assert any("upright_bonus" in line for line in progress)  # per-term rewards once episodes have ended
    assert "python -m vla_ray.evaluate --checkpoint" in out
    assert "python -m serve --policy humanoid=" in out
    final = (root / "run" / (root / "run" / "LATEST").read_text())
    assert (final / "vla_ray_policy.json").is_file() and (final / "evaluation.mp4").stat().st_size > 0


def test_main_job_logs_one_mlflow_run_with_params_metrics_checkpoint_and_video(trained):
    root, uri, _ = trained
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("humanoid_curriculum")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run_ = runs[0]
    assert run_.info.status == "FINISHED"
    assert run_.data.params["training/lr"] == "0.0003" and run_.data.params["env/task"] == "stand"
    history = client.get_metric_history(run_.info.run_id, "episode_return_mean")
    assert len(history) >= 1
    assert any(k.startswith("reward_terms/") for k in run_.data.metrics)
    assert "stage_index" in run_.data.metrics and "eval/success_rate" in run_.data.metrics
    assert Path(run_.data.tags["checkpoint/final"]).is_dir()
    artifacts = [a.path for a in client.list_artifacts(run_.info.run_id, "evaluation")]
    assert artifacts == ["evaluation/evaluation.mp4"]


def test_resume_continues_from_the_last_checkpoint(trained):
    root, uri, _ = trained
    first = json.loads((root / "run" / (root / "run" / "LATEST").read_text() / "vla_ray_policy.json").read_text())
    out = run(["experiments/humanoid_curriculum.py", *TINY, "--env-steps", "1", "--eval-episodes", "0",
               "--run-dir", str(root / "run"), "--mlflow-uri", uri, "--resume", str(root / "run")])
    iterations = [int(line.split()[1]) for line in out.splitlines() if line.startswith("it ")]
    assert iterations == [first["training_iteration"] + 1]


def test_evaluate_command_reports_the_seed_metrics_and_writes_a_video(trained, tmp_path):
    root, _, _ = trained
    video = tmp_path / "eval.mp4"
    # a relative checkpoint path, as a user types it from the run's parent directory
    out = run(["-m", "vla_ray.evaluate", "--checkpoint", "run", "--episodes", "2", "--video", str(video)], cwd=root)
    report = json.loads(out[: out.rindex("}") + 1])
    for key in ("success_rate", "completion_time_s", "velocity_tracking_error_mps", "action_smoothness",
                "falls", "joint_limit_hits", "safety_intervention_steps"):
        assert key in report
    assert report["episodes"] == 2 and 0.0 <= report["success_rate"] <= 1.0
    frames = iio.imread(video, index=None)
    assert frames.shape[1:] == (480, 640, 3) and 1 <= frames.shape[0] <= 50  # one episode of at most 1 s at 50 Hz
    assert frames.std() > 5
