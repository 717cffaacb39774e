"""The cluster path: cluster.yaml passes Ray's own validation; a two-node Ray on loopback (separate processes, a
custom resource on the second node) runs a training job submitted with `ray job submit` whose EnvRunners land on
the second node; `ray job stop` on a training job leaves a usable last checkpoint."""

import json
import time

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from local_cluster import REPO, LocalCluster, shipped_copy
from vla_ray.checkpoints import PolicyCard, resolve_checkpoint
from vla_ray.policy import Policy

SLOT = "env_runner_slot"  # cluster.yaml's custom resource of the EnvRunner group
QUADRUPED = ["python", "experiments/train.py", "--env", "vla_ray/QuadrupedLocomotion-v0",
             "--env-config", '{"episode_length_s": 0.5}', "--envs-per-runner", "4", "--rollout-fragment", "32",
             "--minibatch-size", "64", "--eval-episodes", "0"]


def test_cluster_yaml_passes_rays_validation_and_keeps_the_secure_defaults():
    raw = yaml.safe_load((REPO / "cluster.yaml").read_text())
    config = prepare_config(raw)  # what `ray up` does before validating: fill the provider's defaults
    validate_config(config)
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}  # no EnvRunner or Learner on the head
    assert any(SLOT in t["resources"] and "GPU" not in t["resources"] for t in types.values())
    assert any(t["resources"].get("GPU", 0) >= 1 for t in types.values())
    for name, node_type in types.items():  # every node installs this project
        commands = node_type.get("worker_setup_commands", config["setup_commands"])
        assert "pip install -e ~/vla-ray" in commands, name
    assert config["file_mounts"]["~/vla-ray"] == "."
    starts = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in starts and "0.0.0.0" not in starts
    assert all("RAY_AUTH_MODE=token" in c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    bad = {**raw, "available_node_types": {**raw["available_node_types"], "head": {"node_config": {}}}}
    with pytest.raises(Exception, match="resources"):
        validate_config(prepare_config(bad))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    head = LocalCluster(num_cpus=1)
    try:
        worker = head.add_node(num_cpus=2, resources={SLOT: 2})
        yield head, worker, shipped_copy(tmp_path_factory.mktemp("shipped") / "repo")
    finally:
        head.stop()


def test_env_runners_are_placed_on_the_node_with_the_custom_resource(cluster, tmp_path):
    head, worker, shipped = cluster
    out = head.submit([*QUADRUPED, "--env-runners", "2", "--env-runner-resources", json.dumps({SLOT: 1}),
                       "--env-steps", "256", "--run-dir", str(tmp_path / "run"),
                       "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"], shipped)
    placed = next(line for line in out.splitlines() if line.startswith("EnvRunners on nodes:")).split(":")[1].split()
    assert placed == [worker, worker], (placed, worker)
    head_nodes = [n["node_id"] for n in head.nodes() if n["is_head_node"]]
    assert worker not in head_nodes
    assert "final checkpoint" in out and (tmp_path / "run" / "LATEST").is_file()


def test_ray_job_stop_leaves_a_usable_last_checkpoint(cluster, tmp_path):
    head, _, shipped = cluster
    run_dir = tmp_path / "run"
    job_id = f"stop-test-{tmp_path.name}"
    head.submit([*QUADRUPED, "--env-runners", "0", "--checkpoint-every", "1", "--time-budget-min", "10",
                       "--run-dir", str(run_dir), "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"], shipped,
                      "--no-wait", "--submission-id", job_id, "--runtime-env-json", json.dumps({"env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": "60"}}))
    deadline = time.time() + 300
    while not (run_dir / "LATEST").is_file():
        assert time.time() < deadline, head.ray("job", "logs", job_id, check=False).stdout[-3000:]
        time.sleep(1)
    head.ray("job", "stop", job_id)
    status = head.ray("job", "status", job_id).stdout
    assert "was stopped" in status, status
    logs = head.ray("job", "logs", job_id).stdout
    assert "SIGTERM: stopping after this iteration" in logs, logs[-3000:]
    checkpoint = resolve_checkpoint(run_dir)
    assert checkpoint.name.startswith("stopped_iter"), checkpoint
    card = PolicyCard.load(checkpoint)
    assert card.training_iteration >= 1 and card.embodiment == "spot"
    Policy.from_checkpoint(checkpoint)  # loads: weights and card complete
    assert not list(run_dir.glob(".*.partial"))
