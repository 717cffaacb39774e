"""Tune sweeps over terrain and randomization as a user runs them: the sweep script with its own Ray, MLflow and
TensorBoard per trial, the results table, the robustness matrix and exported checkpoints; a crashed trial retried
from its checkpoint; a killed sweep resumed with Tuner.restore."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from local_cluster import kill_tree
from vla_ray.checkpoints import PolicyCard
from vla_ray.policy import Policy
from vla_ray.sweep.worlds import SweepSpace, World

REPO = Path(__file__).resolve().parents[1]
TINY = ["--env-config", '{"episode_length_s": 0.5}', "--envs-per-runner", "4", "--rollout-fragment", "32",
        "--minibatch-size", "64", "--grace-period", "2"]


def sweep_command(out: Path, *args: str) -> list[str]:
    return [sys.executable, "experiments/sweep_terrain_dr.py", "--out", str(out), *TINY, *args]


def results(trial_dir: Path) -> list[dict]:
    path = trial_dir / "result.json"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def wait_for(condition, timeout_s: float, what: str, proc: subprocess.Popen):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the sweep exited ({proc.returncode}) before {what}: {proc.stdout.read()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps")
    done = subprocess.run(
        sweep_command(out, "--name", "terrains", "--terrains", "flat", "rough", "--levels", "3",
                      "--randomization", '{"friction": [[0.5, 1.5], [0.8, 1.2]]}', "--search", "random",
                      "--iterations", "4", "--checkpoint-every", "2", "--eval-episodes", "2"),
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, out / "terrains", done.stdout


def test_every_trial_is_an_mlflow_run_with_its_world_and_metrics_and_writes_tensorboard_events(sweep):
    out, sweep_dir, _ = sweep
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("terrains").experiment_id])
    assert sorted(r.data.params["world/terrain"] for r in runs) == ["flat", "rough"]
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.params["world/level"] == "3"
        assert run.data.params["world/randomization/friction"] in ("[0.5, 1.5]", "[0.8, 1.2]")
        assert len(client.get_metric_history(run.info.run_id, "episode_return_mean")) >= 2
    trial_dirs = [d for d in sweep_dir.iterdir() if d.name.startswith("train_trial")]
    assert len(trial_dirs) == 2
    for trial in trial_dirs:
        assert list(trial.glob("events.out.tfevents.*")), f"no TensorBoard events in {trial}"


def test_results_table_robustness_matrix_and_exported_best_checkpoints(sweep):
    _, sweep_dir, stdout = sweep
    report = json.loads((sweep_dir / "results.json").read_text())
    assert len(report["trials"]) == 2 and set(report["best"]) == {"flat", "rough"}
    for trained in ("flat", "rough"):
        for evaluated in ("flat", "rough"):
            cell = report["robustness"][trained][evaluated]
            assert cell["episodes"] == 2 and 0.0 <= cell["success_rate"] <= 1.0
    assert "| trained on \\ evaluated in | flat | rough |" in (sweep_dir / "results.md").read_text()
    for terrain, path in report["exported"].items():
        card = PolicyCard.load(Path(path))
        assert card.env_config["terrain"]["types"] == [terrain] and card.env_config["terrain_level"] == 3
        assert card.env_config["terrain_curriculum"] is False
        policy = Policy.from_checkpoint(path)  # what `python -m serve --policy` loads
        assert policy.card.embodiment == "spot"
    assert f"--policy flat={report['exported']['flat']}" in stdout


def restarts(rows: list[dict]) -> list[int]:
    """Where a trial's process started over from a checkpoint (Tune counts iterations_since_restore from 1)."""
    return [i for i, row in enumerate(rows) if i > 0 and row["iterations_since_restore"] == 1]


def test_a_crashed_trial_is_retried_from_its_checkpoint_and_a_killed_sweep_resumes(tmp_path):
    # Iterations of about a second each and twelve of them: the two kills below land mid-run however busy the
    # machine is.
    command = sweep_command(tmp_path, "--name", "faults", "--terrains", "flat", "--iterations", "12",
                            "--checkpoint-every", "2", "--max-failures", "1", "--eval-episodes", "0",
                            "--envs-per-runner", "16")
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sweep_dir = tmp_path / "faults"

    def rows() -> list[dict]:
        trial = next(iter(sweep_dir.glob("train_trial_*")), None)
        return results(trial) if trial else []

    try:
        # Kill the trial's process once it has checkpointed (iteration 2) and gone on: FailureConfig retries it.
        victim = wait_for(lambda: (r := rows()) and r[-1]["training_iteration"] >= 3 and r[-1], 300, "iteration 3", proc)
        os.kill(victim["pid"], signal.SIGKILL)
        # Then kill the whole sweep (driver and its Ray) once the retried trial has reported twice.
        wait_for(lambda: (r := rows()) and restarts(r) and len(r) >= restarts(r)[0] + 2, 300,
                 "two iterations of the retried trial", proc)
        kill_tree(proc.pid)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
    before = rows()
    retry = restarts(before)[0]
    # The retry is a new process that continued after the last checkpoint (an even iteration), not from scratch.
    assert before[retry]["pid"] != victim["pid"]
    assert before[retry]["training_iteration"] % 2 == 1
    assert victim["training_iteration"] - 1 <= before[retry]["training_iteration"] <= victim["training_iteration"] + 1
    resumed = subprocess.run([sys.executable, "experiments/sweep_terrain_dr.py", "--resume", str(sweep_dir)],
                             cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = rows()[len(before):]
    # Tuner.restore continued the unfinished trial after its last recorded checkpoint, to the end.
    assert after and after[0]["iterations_since_restore"] == 1, after
    assert after[0]["training_iteration"] >= 3 and after[0]["training_iteration"] % 2 == 1
    assert after[-1]["training_iteration"] == 12
    assert [t["iterations"] for t in json.loads((sweep_dir / "results.json").read_text())["trials"]] == [12]


def test_worlds_become_environment_settings_and_bad_sweeps_fail_naming_the_field():
    world = World("stairs_up", 4, {"friction": [0.2, 2.0]})
    settings = world.env_settings({"episode_length_s": 5.0, "randomization": {"mass_scale": [0.8, 1.2]}})
    assert settings == {"episode_length_s": 5.0, "terrain": {"types": ["stairs_up"]}, "terrain_level": 4,
                        "terrain_curriculum": False,
                        "randomization": {"mass_scale": [0.8, 1.2], "friction": [0.2, 2.0]}}
    assert World().env_settings({"task": "reach"}) == {"task": "reach"}
    space = SweepSpace(terrains=("flat", "gaps"), levels=(0, 5), randomization={"push_force_n": [[0, 0], [0, 100]]})
    params = space.param_space()
    assert params["terrain"] == {"grid_search": ["flat", "gaps"]}
    assert params["randomization"]["push_force_n"] == {"grid_search": [[0, 0], [0, 100]]}
    with pytest.raises(ValueError, match="World.level=12"):
        SweepSpace(terrains=("flat",), levels=(12,))
    with pytest.raises(ValueError, match="friction"):
        SweepSpace(randomization={"friction": [[2.0, 1.0]]})
    with pytest.raises(ValueError, match="SweepSpace.search='bayes'"):
        SweepSpace(search="bayes")
