"""`ray job submit` of the main job against a head node this test starts on loopback (and stops: only
its own processes), with Ray's token authentication on."""

import pytest

from local_cluster import REPO, LocalCluster, shipped_copy


@pytest.fixture(scope="module")
def head():
    cluster = LocalCluster(num_cpus=2)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    return shipped_copy(tmp_path_factory.mktemp("shipped") / "repo")


def test_job_driver_and_workers_import_the_shipped_packages(head, shipped):
    probe = (
        "import ray, vla_ray, envs; ray.init(); "
        "where = ray.get(ray.remote(lambda: __import__('envs').__file__ + ' ' + __import__('vla_ray').__file__).remote()); "
        "print('driver', vla_ray.__file__, envs.__file__); print('worker', where)"
    )
    out = head.submit(["python", "-c", probe], shipped)
    lines = [line for line in out.splitlines() if line.startswith(("driver ", "worker "))]
    assert len(lines) == 2
    for line in lines:
        assert "working_dir_files" in line and str(REPO) not in line, line


def test_main_job_runs_unchanged_through_ray_job_submit(head, shipped, tmp_path):
    out = head.submit([
        "python", "experiments/humanoid_curriculum.py", "--env-runners", "1", "--envs-per-runner", "4",
        "--rollout-fragment", "32", "--minibatch-size", "64", "--env-steps", "128", "--episode-length-s", "1",
        "--eval-episodes", "0", "--run-dir", str(tmp_path / "run"), "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
    ], shipped)
    assert "it    1 | stage 0 stand" in out and "final checkpoint" in out
    assert (tmp_path / "run" / "LATEST").is_file()
